"""How a dev chain client reaches its chain: a method call in this process, or JSON-RPC over
HTTP to a node. Both raise `ChainError` for a refusal, with the chain's code."""

from __future__ import annotations

import asyncio
import itertools
import json
from urllib.parse import urlsplit

from chain.dev.service import DevChainService, UnknownMethod
from chain.errors import CONNECTION, UNKNOWN, UNKNOWN_CALL, ChainError

# JSON-RPC error code the node uses for a chain refusal; `data` carries {code, message}.
CHAIN_ERROR = -32000
REQUEST_TIMEOUT = 60.0  # seconds; longer than the node's longest long-poll
HTTP_OK = 200
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


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
    """JSON-RPC 2.0 over HTTP/1.1 to a `subnet devchain` node, on a pool of keep-alive
    connections (one per request in flight; idle ones are reused).

    A small client of its own rather than httpx: the node speaks only Content-Length
    HTTP/1.1, and a general client's pool bookkeeping cost more than the whole request."""

    def __init__(self, url: str):
        self.url = url
        parsed = urlsplit(url)
        self._host, self._port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self._ids = itertools.count(1)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def call(self, method: str, params: dict | None = None) -> object:
        request = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": params or {},
        }
        body = json.dumps(request, separators=(",", ":")).encode()
        try:
            answer = await asyncio.wait_for(self._post(body), REQUEST_TIMEOUT)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as error:
            raise ChainError(
                CONNECTION,
                f"cannot reach the dev chain at {self.url} ({error!r}); is `subnet devchain` "
                "running?",
            ) from None
        if "error" in answer:
            error = answer["error"] or {}
            data = error.get("data")
            if error.get("code") == CHAIN_ERROR and isinstance(data, dict):
                raise ChainError.from_dict(data)
            raise ChainError(UNKNOWN, f"JSON-RPC error {error.get('code')}: {error.get('message')}")
        return answer.get("result")

    async def _post(self, body: bytes) -> dict:
        head = (
            f"POST / HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        reused = bool(self._idle)
        reader, writer = self._idle.pop() if reused else await self._connect()
        try:
            writer.write(head + body)
            await writer.drain()
            status, keep_alive, payload = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError):
            writer.close()
            if not reused:
                raise
            return await self._post(body)  # the node closed an idle connection: open a new one
        if keep_alive:
            self._idle.append((reader, writer))
        else:
            writer.close()
        if status != HTTP_OK:
            raise ValueError(f"HTTP {status}")
        return json.loads(payload)

    async def _connect(self):
        return await asyncio.open_connection(self._host, self._port, limit=MAX_RESPONSE_BYTES)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise asyncio.IncompleteReadError(b"", None)
    status = int(status_line.split()[1])
    length, keep_alive = 0, True
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.lower() == "close":
            keep_alive = False
    return status, keep_alive, await reader.readexactly(length)
