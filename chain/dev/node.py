"""`subnet devchain`: the dev chain node, JSON-RPC 2.0 over HTTP on 127.0.0.1.

    subnet devchain [--port 9946] [--db PATH] [--block-time SECONDS | --manual]

The port's default is SUBNET_DEVCHAIN_PORT when set (0: any free port; the first line printed
names the port taken).

POST a JSON-RPC request (or a batch) to `/`. Methods take named params: info, block,
wait_for_block {block, timeout} (a long-poll: answers when the block exists or after at most
30 s), submit {tx}, nonce {address}, balance {address}, stake {netuid, hotkey, coldkey?},
subnets, metagraph {netuid}, hyperparameters {netuid}, weights {netuid}, reveal_key {netuid},
mine {count}, snapshot, revert {id} (the snapshot stays usable; later ones are dropped). A chain refusal is error -32000 with `data: {code, message}`; a
malformed request gets the JSON-RPC error for it and the node carries on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import os
import signal
import sys

from loguru import logger as log

from chain.dev.accounts import genesis
from chain.dev.machine import DevChain
from chain.dev.service import DevChainService, UnknownMethod
from chain.dev.store import Store
from chain.dev.transport import CHAIN_ERROR
from chain.errors import ChainError

HOST = "127.0.0.1"
DEFAULT_PORT = 9946
PORT_ENV = "SUBNET_DEVCHAIN_PORT"
DEFAULT_BLOCK_TIME = 12.0
MAX_PORT = 65_535
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_HEADER_LINES = 100
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = (
    -32700,
    -32600,
    -32601,
    -32602,
    -32603,
)
REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
}


def _error(code: int, message: str, request_id=None, data=None) -> dict:
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "error": error, "id": request_id}


async def _one(service: DevChainService, request: object) -> dict | None:
    """Answer one JSON-RPC request object; None for a notification."""
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
        return _error(INVALID_REQUEST, "a request is an object with jsonrpc: '2.0'")
    request_id = request.get("id")
    if not isinstance(request_id, (str, int, type(None))) or isinstance(request_id, bool):
        return _error(INVALID_REQUEST, "id must be a string, a number or null")
    method, params = request.get("method"), request.get("params", {})
    if not isinstance(method, str):
        return _error(INVALID_REQUEST, "method must be a string", request_id)
    if not isinstance(params, dict):
        return _error(INVALID_PARAMS, "params must be an object of named parameters", request_id)
    try:
        result = await service.handle(method, params)
    except UnknownMethod:
        response = _error(METHOD_NOT_FOUND, f"no method {method!r}", request_id)
    except ChainError as error:
        response = _error(CHAIN_ERROR, error.message, request_id, error.to_dict())
    except Exception as error:  # a bug must cost one request, never the node
        log.exception("request {} failed", method)
        response = _error(INTERNAL_ERROR, f"internal error: {error}", request_id)
    else:
        response = {"jsonrpc": "2.0", "result": result, "id": request_id}
    return response if "id" in request else None


async def dispatch(service: DevChainService, body: bytes) -> object | None:
    """The JSON-RPC answer to an HTTP body (a request or a batch)."""
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        return _error(PARSE_ERROR, f"parse error: {error}")
    except RecursionError:
        return _error(PARSE_ERROR, "parse error: the body is nested too deeply")
    if isinstance(request, list):
        if not request:
            return _error(INVALID_REQUEST, "an empty batch")
        answers = [await _one(service, item) for item in request]
        return [a for a in answers if a is not None] or None
    return await _one(service, request)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict, bytes] | int | None:
    """(method, headers, body), an HTTP status to refuse with, or None at end of stream."""
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split()
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        header = await reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    else:
        return 400
    if len(parts) != 3:
        return 400
    if "content-length" not in headers:
        return 411 if parts[0] == "POST" else 405
    try:
        length = int(headers["content-length"])
    except ValueError:
        return 400
    if not 0 <= length <= MAX_BODY_BYTES:
        return 413
    body = await reader.readexactly(length)
    return parts[0], headers, body


def _http_response(status: int, payload: object | None, keep_alive: bool) -> bytes:
    body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
    head = [
        f"HTTP/1.1 {status} {REASONS[status]}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def serve_connection(service, reader, writer) -> None:
    try:
        while True:
            request = await _read_request(reader)
            if request is None:
                break
            if isinstance(request, int):
                writer.write(
                    _http_response(request, _error(INVALID_REQUEST, REASONS[request]), False)
                )
                await writer.drain()
                break
            method, headers, body = request
            keep_alive = headers.get("connection", "").lower() != "close"
            if method != "POST":
                payload, status = _error(INVALID_REQUEST, "POST JSON-RPC to /"), 405
            else:
                payload = await dispatch(service, body)
                status = 200 if payload is not None else 204
            writer.write(_http_response(status, payload, keep_alive))
            await writer.drain()
            if not keep_alive:
                break
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        pass
    except asyncio.CancelledError:  # the node is shutting down: end this connection quietly
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def run_node(port: int, db: str | None, block_time: float | None) -> None:
    if db is None:
        store, machine = None, DevChain(genesis())
    else:
        store, machine = Store.open(db, genesis)
    service = DevChainService(machine, store)
    server = await asyncio.start_server(
        lambda r, w: serve_connection(service, r, w), HOST, port, limit=MAX_BODY_BYTES
    )
    bound = server.sockets[0].getsockname()[1]
    if block_time is not None:
        service.start_auto_mining(block_time)
    blocks = "manual blocks" if block_time is None else f"a block every {block_time:g} s"
    where = f"store {db}" if db else "in memory only"
    print(
        f"dev chain listening on {HOST}:{bound} at block {machine.state.block}, {blocks}, {where}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        service.stop_auto_mining()
        server.close()
        await server.wait_closed()
        if store is not None:
            await store.flush()
            store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="subnet devchain", description=__doc__.split("\n\n")[0])
    default_port = os.environ.get(PORT_ENV) or str(DEFAULT_PORT)
    parser.add_argument(
        "--port",
        type=int,
        default=default_port,
        help=f"port on 127.0.0.1 (0: any; default {PORT_ENV}, else {DEFAULT_PORT})",
    )
    parser.add_argument("--db", help="SQLite file to keep the chain in (default: memory only)")
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument(
        "--block-time",
        type=float,
        default=DEFAULT_BLOCK_TIME,
        help=f"seconds per block (default {DEFAULT_BLOCK_TIME:g}; 0.25 for fast blocks)",
    )
    timing.add_argument("--manual", action="store_true", help="blocks only when asked (mine N)")
    args = parser.parse_args(argv)
    if args.block_time <= 0:
        parser.error("--block-time must be positive")
    if not 0 <= args.port <= MAX_PORT:
        parser.error(f"--port must be in 0..{MAX_PORT}")
    try:
        asyncio.run(run_node(args.port, args.db, None if args.manual else args.block_time))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            print(
                f"subnet devchain: cannot listen on {HOST}:{args.port}: the port is in use "
                "(another subnet devchain? `ss -ltnp` shows who holds it); stop it, or pass "
                "another --port (0 picks a free one)",
                file=sys.stderr,
            )
        else:
            print(f"subnet devchain: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
