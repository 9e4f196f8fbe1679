"""The gateway's HTTP face: OpenAI's routes, its error objects, and the server's lifecycle.

    POST /v1/chat/completions   POST /v1/completions   (JSON, or SSE with "stream": true)
    GET  /v1/models             GET  /metrics

Any other path or method gets OpenAI's error object too (404, 405), so a client pointed at a
wrong base URL says so plainly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from neurons.gateway import errors
from neurons.gateway.service import Gateway
from neurons.serving import LISTEN_BACKLOG, HttpServer
from protocol.refusals import Refused
from protocol.server import DEFAULT_MAX_BODY_BYTES, listening_socket, read_body_limited

OWNED_BY = "subnet"


class GatewayPortInUse(OSError):
    """The gateway's port cannot be bound; the message names the option to change."""


def create_gateway_app(gateway: Gateway, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(title="subnet gateway", docs_url=None, redoc_url=None, openapi_url=None)

    async def completion(request: Request, chat: bool) -> Response:
        raw = await read_body_limited(request, max_body_bytes)
        if isinstance(raw, Refused):  # 413 for a body over the limit
            return errors.ApiError(raw.status, raw.message, code=raw.code).response()
        return await gateway.complete(raw, request.headers.get("authorization"), chat)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await completion(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await completion(request, chat=False)

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        try:
            gateway.authenticate(request.headers.get("authorization"))
        except errors.ApiError as error:
            return error.response()
        model = {"id": gateway.model, "object": "model", "created": 0, "owned_by": OWNED_BY}
        return JSONResponse({"object": "list", "data": [model]})

    @app.get("/metrics")
    async def metrics() -> Response:
        registry = gateway.host.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error = errors.ApiError(
            exc.status_code,
            f"{request.method} {request.url.path}: {exc.detail}; this gateway serves POST "
            "/v1/chat/completions, POST /v1/completions and GET /v1/models",
            code="not_found" if exc.status_code == 404 else "method_not_allowed",
        )
        return error.response()

    app.add_exception_handler(StarletteHTTPException, on_http_error)
    return app


def bind(host: str, port: int) -> socket.socket:
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        raise GatewayPortInUse(
            f"cannot listen on {host}:{port} for the gateway ({exc.strerror}): another process "
            "holds the port; stop it or pass another --gateway.port (0 picks a free one)"
        ) from exc
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


class GatewayServer:
    """The gateway's app on its own port, with its once-a-minute log line."""

    def __init__(self, gateway: Gateway, shutdown_timeout: float) -> None:
        self.gateway = gateway
        self.app = create_gateway_app(gateway)
        self.shutdown_timeout = shutdown_timeout
        self.server: HttpServer | None = None
        self._log_task: asyncio.Task | None = None

    @property
    def port(self) -> int:
        if self.server is None:
            raise RuntimeError("the gateway is not serving")
        return self.server.port

    async def start(self, host: str, port: int) -> None:
        self.server = HttpServer(self.app, bind(host, port), self.shutdown_timeout)
        await self.server.start()
        self._log_task = asyncio.create_task(self.gateway.log_every_minute())

    async def stop(self) -> None:
        if self._log_task is not None:
            self._log_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._log_task
        if self.server is not None:
            await self.server.stop()
            self.server = None
        await self.gateway.close()


def open_gateway(host, config) -> GatewayServer:
    """The gateway server of a validator (`host`) as its config says; not started yet.

    `host` becomes the gateway's: its task source gets the organic prompts mixed in."""
    from neurons.gateway.forward import Settings
    from neurons.gateway.store import GatewayStore

    options = config.gateway
    gateway = Gateway(
        host,
        GatewayStore.open(config.gateway_path()),
        verify_share=options.verify_share,
        organic_share=options.organic_share,
        settings=Settings(options.attempts, options.first_token_timeout, options.timeout),
    )
    return GatewayServer(gateway, config.neuron.shutdown_timeout)
