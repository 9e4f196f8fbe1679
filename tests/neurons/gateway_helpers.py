"""Helpers for the gateway tests: a validator serving the gateway on 127.0.0.1, an API key,
the official `openai` client pointed at it, and miners given a verified score."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from neuron_helpers import Subnet

from neurons.gateway.store import GatewayStore
from neurons.validator import Validator

openai = pytest.importorskip(
    "openai", reason="the OpenAI client package is a development dependency"
)


@dataclass
class Served:
    """A started validator with its gateway, and one API key for it."""

    validator: Validator
    key: str
    folder: Path

    @property
    def gateway(self):
        assert self.validator.gateway is not None
        return self.validator.gateway.gateway

    @property
    def base_url(self) -> str:
        assert self.validator.gateway is not None
        return f"http://127.0.0.1:{self.validator.gateway.port}/v1"

    def client(self, key: str | None = None):
        return openai.AsyncOpenAI(
            base_url=self.base_url, api_key=key or self.key, max_retries=0, timeout=30
        )

    @property
    def model(self) -> str:
        return self.validator.model_name

    async def close(self) -> None:
        await self.validator.stop_gateway()
        await self.validator.client.aclose()


def new_key(folder: Path, name: str, **limits: int) -> str:
    store = GatewayStore.open(folder)
    try:
        limits = {"requests_per_minute": 0, "tokens_per_minute": 0, **limits}
        return store.create_key(name, **limits)[1]
    finally:
        store.close()


async def serve_gateway(subnet: Subnet, tmp: Path, *flags: str) -> Served:
    folder = tmp / "gateway"
    key = new_key(folder, "tester")
    validator = subnet.validator(
        0,
        "--gateway.port",
        "0",
        "--gateway.path",
        str(folder),
        "--gateway.verify_share",
        "1",
        *flags,
    )
    await validator.start()
    return Served(validator, key, folder)


def give_scores(validator: Validator, scores: dict[int, float]) -> None:
    """Verified scores for these uids, as earlier rounds would have left them."""
    uids = np.array(list(scores), dtype=np.int64)
    hotkeys = [validator.metagraph.hotkeys[uid] for uid in uids]
    validator.scores.alpha = 1.0
    validator.scores.update(uids, hotkeys, np.array(list(scores.values())))
    validator.scores.alpha = validator.config.validator.alpha
