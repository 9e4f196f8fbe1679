"""How a dev chain client reaches its chain: a method call in this process, or JSON-RPC over
HTTP to a node. Both raise `ChainError` for a refusal, with the chain's code."""

from __future__ import annotations

import itertools

import httpx

from chain.dev.service import DevChainService, UnknownMethod
from chain.errors import CONNECTION, UNKNOWN, UNKNOWN_CALL, ChainError

# JSON-RPC error code the node uses for a chain refusal; `data` carries {code, message}.
CHAIN_ERROR = -32000
REQUEST_TIMEOUT = 60.0  # seconds; longer than the node's longest long-poll


class LocalTransport:
    """Calls a `DevChainService` in this process: no sockets, no serialisation.

    With `block_time`, the first call starts block production in the running loop (unless
    the chain already produces blocks); `close` stops it again if this transport started it.
    """

    def __init__(self, service: DevChainService, block_time: float | None = None):
        self.service = service
        self._block_time = block_time
        self._started_mining = False

    async def call(self, method: str, params: dict | None = None) -> object:
        if self._block_time is not None and not self.service.mining:
            self.service.start_auto_mining(self._block_time)
            self._started_mining = True
        try:
            return await self.service.handle(method, params or {})
        except UnknownMethod:
            raise ChainError(UNKNOWN_CALL, f"the dev chain has no method {method!r}") from None

    async def close(self) -> None:
        if self._started_mining:
            self.service.stop_auto_mining()
            self._started_mining = False


class HttpTransport:
    """JSON-RPC 2.0 over HTTP/1.1 keep-alive to a `subnet devchain` node."""

    def __init__(self, url: str):
        self.url = url
        self._ids = itertools.count(1)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=REQUEST_TIMEOUT)
        return self._client

    async def call(self, method: str, params: dict | None = None) -> object:
        request = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": params or {},
        }
        try:
            response = await self._http().post(self.url, json=request)
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise ChainError(
                CONNECTION,
                f"cannot reach the dev chain at {self.url} ({error}); is `subnet devchain` running?",
            ) from None
        if "error" in body:
            error = body["error"] or {}
            data = error.get("data")
            if error.get("code") == CHAIN_ERROR and isinstance(data, dict):
                raise ChainError.from_dict(data)
            raise ChainError(UNKNOWN, f"JSON-RPC error {error.get('code')}: {error.get('message')}")
        return body.get("result")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
