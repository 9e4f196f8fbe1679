"""Fixtures for protocol/ tests; the helpers they use live in protocol_support."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from protocol_support import MINER_URL, RecordingDirectory, RecordingHandler, build_app


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def directory() -> RecordingDirectory:
    return RecordingDirectory()


@pytest.fixture
def app(handler: RecordingHandler, directory: RecordingDirectory) -> FastAPI:
    return build_app(handler, directory)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=MINER_URL) as client:
        yield client
