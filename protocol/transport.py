"""httpx plumbing for the wire: the Epistula auth hook, a cookie-less client, one deadline.

`EpistulaAuth` signs `request.content`, the bytes httpx has already encoded and will send, so a
body is serialised exactly once and the signature covers what is on the wire. It signs for any
httpx client, an OpenAI client's included:

    http_client = httpx.AsyncClient(auth=EpistulaAuth(keypair, signed_for=miner_hotkey))
    openai.AsyncOpenAI(base_url=f"{miner_url}/v1", api_key="unused", http_client=http_client)
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Generator
from typing import TypeVar

import httpx

from protocol import headers as h
from protocol.clock import Clock, wall_clock_ms
from protocol.epistula import Signer, sign_request

T = TypeVar("T")


async def run_within(awaitable: Awaitable[T], timeout_s: float) -> T:
    """Await under one total deadline; raises TimeoutError (asyncio.TimeoutError before 3.11)."""
    if sys.version_info >= (3, 11):
        # A timeout scope costs a third of wait_for, which wraps the awaitable in a new task.
        async with asyncio.timeout(timeout_s):
            return await awaitable
    return await asyncio.wait_for(awaitable, timeout_s)


class EpistulaAuth(httpx.Auth):
    """Sign each request with Epistula v2 headers over the exact bytes httpx sends.

    The receiver is `signed_for`, or else the request's own `Epistula-Signed-For` header.
    """

    requires_request_body = True

    def __init__(
        self, keypair: Signer, signed_for: str | None = None, clock: Clock = wall_clock_ms
    ):
        self.keypair = keypair
        self.signed_for = signed_for
        self.clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        signed_for = self.signed_for or request.headers.get(h.SIGNED_FOR)
        if not signed_for:
            raise ValueError(
                f"no receiver to sign for: pass signed_for= to EpistulaAuth or set {h.SIGNED_FOR}"
            )
        self.last_signed = sign_request(
            request.content, self.keypair, signed_for, now_ms=self.clock()
        )
        request.headers.update(self.last_signed)
        yield request


class _IgnoredCookies(httpx.Cookies):
    """A cookie store that stores nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class NoCookiesClient(httpx.AsyncClient):
    """An httpx client that ignores Set-Cookie: a miner cannot plant state in a validator's
    client, and no response pays for cookie parsing (which httpx does per response, at a cost
    that grows with the square of the number of headers)."""

    _ignored = _IgnoredCookies()

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return self._ignored

    @cookies.setter
    def cookies(self, value: object) -> None:
        return None
