"""The miner: a model behind the signed protocol, announced on the chain.

    python neurons/miner.py --netuid 1 --wallet.name miner --wallet.hotkey default \\
        --model models/tiny --axon.port 8091
    subnet miner --help

Before any of that, the server bounds what an unauthenticated client can hold: connections
overall and per address, and the time to send a request head and body (`--axon.*`, see
protocol/connections.py); each such condition is logged once a minute with its count.
Requests reach the model only after protocol/ has checked, in order: the Epistula signature,
replay, the caller policy (a registered validator with a permit and at least
`--miner.min_stake`, refreshed from the metagraph every few blocks), the body's schema, and
admission (at most `--miner.max_concurrent` running, `--miner.queue_size` waiting, by stake).
A refused request never reaches the model. Every answer carries its proof: token ids,
per-token logprobs and prompt token ids (see neurons/translate.py). A request whose batch ran
out of GPU memory is answered 503 `out_of_memory` with Retry-After and what to change; the
miner goes on serving.

With `--model.backend_url` the model is an external server (vLLM, SGLang): the miner checks it
before listening (inference/backend_checks.py: reachable with `--model.backend_api_key`,
serving the model as `--model.served_name`, returning token ids and raw logprobs), so a miner
whose backend is down never announces itself. A request the backend fails later is answered
503 `backend_unavailable` and logged as one line with its cause.

A miner that serves another model (the cheater of the demo and the tests) is just this miner
started with `--model` pointing at that model.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as `python neurons/miner.py`: import the project, not this folder
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from loguru import logger

from chain import Chain, ChainError, Metagraph, rao_to_tao
from inference.openai_backend import BackendError
from inference.types import (
    GenerationBackend,
    GenerationRequest,
    InvalidRequest,
    ModelOutOfMemory,
)
from neurons import translate
from neurons.base import (
    EXIT_USAGE,
    Neuron,
    StartupError,
    connect_registered,
    loading_model,
    require_model,
    run_neuron,
    setup_logging,
)
from neurons.config import MINER, Config, ConfigError, load_config
from neurons.metrics import MinerMetrics
from neurons.serving import CountRequests, HttpServer, PortInUse, bind_socket
from protocol import schemas as wire
from protocol.admission import AdmissionLimits
from protocol.connections import raise_file_limit
from protocol.policy import CallerInfo, CallerPolicy, StaticDirectory
from protocol.refusals import Reason, Refused, RefusedError, model_not_found
from protocol.server import ServerLimits, SignedRoute, create_app

BUSY_RETRY_AFTER_S = 1
# The external backend failed: it may be restarting.
BACKEND_RETRY_AFTER_S = 5
BACKEND_UNAVAILABLE_CODE = "backend_unavailable"
# Out of GPU memory: the batch failed, the next may fit once others have finished.
OUT_OF_MEMORY_RETRY_AFTER_S = 5
OUT_OF_MEMORY_CODE = "out_of_memory"
OUT_OF_MEMORY_ADVICE = (
    "the miner's GPU ran out of memory on this request's batch; its operator should lower "
    "--model.max_batch and --miner.max_concurrent, load the model in half precision "
    "(--model.dtype bfloat16 or float16), serve a smaller model, or serve through vLLM/SGLang "
    "with --model.backend_url"
)


@dataclass
class ServedModel:
    """A backend, the name it answers as (requests naming another model are refused 404), and
    how to show a token id as text.

    `busy` are the backend's exceptions for "full, try later": answered 429, not 500.
    `external` is set for a backend server the miner checks before serving.
    """

    backend: GenerationBackend
    name: str
    decode: Callable[[Sequence[int]], str]
    busy: tuple[type[Exception], ...] = ()
    external: bool = False


def decoder_of(tokenizer) -> Callable[[Sequence[int]], str]:
    def decode(ids: Sequence[int]) -> str:
        return tokenizer.decode(list(ids), skip_special_tokens=False)

    return decode


def load_served_model(config: Config) -> ServedModel:
    """The built-in engine, or the external backend at `--model.backend_url`."""
    model = config.model
    if model.backend_url:
        from transformers import AutoTokenizer

        from inference.openai_backend import OpenAIBackend

        # The external server generates; the tokenizer only names tokens in the answer.
        with loading_model(config, "tokenizer of"):
            tokenizer = AutoTokenizer.from_pretrained(model.name)
        served_name = model.served_name or model.name
        backend = OpenAIBackend(model.backend_url, served_name, api_key=model.backend_api_key)
        return ServedModel(backend, model.wire_name, decoder_of(tokenizer), external=True)
    from inference.engine import Engine, EngineBusy, EngineClosed, EngineConfig

    with loading_model(config) as placement:
        engine = Engine.from_pretrained(
            model.name, **placement, config=EngineConfig(max_batch_size=model.max_batch)
        )
    busy = (EngineBusy, EngineClosed)
    return ServedModel(engine, model.wire_name, decoder_of(engine.tokenizer), busy)


async def check_served_model(config: Config, model: ServedModel) -> None:
    """An external backend must pass inference/backend_checks.py before anyone is served."""
    if not model.external:
        return
    from inference.backend_checks import BackendCheckFailed, check_backend

    try:
        await check_backend(model.backend)
    except BackendCheckFailed as exc:
        await model.backend.close()
        raise StartupError(f"--model.backend_url {config.model.backend_url}: {exc}") from None
    logger.info(
        "backend at {} serves {} with token ids and raw logprobs",
        config.model.backend_url,
        model.backend.model,
    )


def directory_of(metagraph: Metagraph) -> StaticDirectory:
    """The caller view the server checks: each hotkey's uid, stake (TAO) and permit."""
    return StaticDirectory(
        {
            hotkey: CallerInfo(
                uid=uid,
                stake=rao_to_tao(int(metagraph.stake[uid])),
                validator_permit=bool(metagraph.validator_permit[uid]),
            )
            for uid, hotkey in enumerate(metagraph.hotkeys)
        }
    )


def _refused(reason: Reason, message: str, retry_after_s: int | None = None) -> RefusedError:
    return RefusedError(Refused.because(reason, message, retry_after_s=retry_after_s))


def _backend_unavailable(exc: BackendError) -> RefusedError:
    """503 with Retry-After: the external backend failed, not the request."""
    refused = Refused(
        BACKEND_UNAVAILABLE_CODE,
        int(HTTPStatus.SERVICE_UNAVAILABLE),
        "the miner's model server failed on this request; try again later",
        BACKEND_RETRY_AFTER_S,
    )
    return RefusedError(refused)


def _out_of_memory(exc: ModelOutOfMemory) -> RefusedError:
    """503 with Retry-After: the request was fine, the miner's memory was not."""
    refused = Refused(
        OUT_OF_MEMORY_CODE,
        int(HTTPStatus.SERVICE_UNAVAILABLE),
        f"{OUT_OF_MEMORY_ADVICE} ({exc})",
        OUT_OF_MEMORY_RETRY_AFTER_S,
    )
    return RefusedError(refused)


class Miner(Neuron):
    role = MINER
    metrics_class = MinerMetrics
    metrics: MinerMetrics

    def __init__(
        self,
        config: Config,
        chain: Chain,
        wallet,
        model: ServedModel,
        metrics: MinerMetrics | None = None,
    ) -> None:
        super().__init__(config, chain, wallet, metrics)
        self.model = model
        self.log = logger.bind(neuron=f"miner {self.hotkey[:8]}")
        policy = CallerPolicy(
            require_registered=True,
            require_validator_permit=config.miner.require_permit,
            min_stake=config.miner.min_stake,
        )
        limits = ServerLimits(
            admission=AdmissionLimits(
                max_concurrent=config.miner.max_concurrent, max_queue=config.miner.queue_size
            )
        )
        routes = [
            SignedRoute(translate.CHAT_PATH, wire.ChatCompletionRequest, self.handle),
            SignedRoute(translate.TEXT_PATH, wire.CompletionRequest, self.handle),
        ]
        self.app = create_app(
            wallet.hotkey, StaticDirectory({}), policy, routes, limits=limits, title="miner"
        )
        self.counted = CountRequests(self.app, self.metrics)
        self.server: HttpServer | None = None
        self.announced: tuple[str, int] | None = None
        self.announced_block = 0

    @property
    def port(self) -> int:
        if self.server is None:
            raise RuntimeError("the miner is not serving yet")
        return self.server.port

    # -- requests -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _model_refusals(self) -> Iterator[None]:
        """The model's refusals as answers: a request it cannot serve 422, out of memory 503,
        busy 429, a failed backend 503 (the last three with Retry-After). A failed backend is
        one log line with its cause, not a traceback."""
        try:
            yield
        except InvalidRequest as exc:
            raise _refused(Reason.INVALID_REQUEST, str(exc)) from None
        except ModelOutOfMemory as exc:
            raise _out_of_memory(exc) from None
        except BackendError as exc:
            self.log.warning("backend failed: {}", exc)
            raise _backend_unavailable(exc) from None
        except self.model.busy as exc:
            raise _refused(
                Reason.QUEUE_FULL, f"the model is busy: {exc}", BUSY_RETRY_AFTER_S
            ) from None

    async def _guarded(self, deltas):
        """A stream's later deltas, with the backend's failures turned into refusals."""
        with self._model_refusals():
            async for delta in deltas:
                yield delta

    async def handle(self, body: translate.WireRequest, caller) -> Any:
        """A verified, admitted request: generate, and answer with the proof attached."""
        if body.model != self.model.name:
            raise RefusedError(model_not_found(body.model, self.model.name))
        with self._model_refusals():
            request = translate.generation_request(body)
            if body.stream:
                return await self._stream(body, request)
            completion = await self.model.backend.generate(request)
        self.counted.tally.tokens += completion.usage.completion_tokens
        self.metrics.generated_tokens.inc(completion.usage.completion_tokens)
        self.log.debug(
            "served {} tokens ({}) to uid {}",
            completion.usage.completion_tokens,
            completion.finish_reason,
            caller.info.uid if caller.info else "?",
        )
        if isinstance(body, wire.ChatCompletionRequest):
            return translate.chat_response(completion, self.model.name, self.model.decode)
        return translate.text_response(completion, self.model.name, self.model.decode)

    async def _stream(self, body: translate.WireRequest, request: GenerationRequest):
        """Start the stream before answering, so a bad request is a 4xx rather than an event."""
        deltas = self.model.backend.stream(request)
        with self._model_refusals():
            first = await anext(deltas)
        chat = isinstance(body, wire.ChatCompletionRequest)
        rest = self._guarded(deltas)
        return translate.stream_chunks(first, rest, chat, self.model.name, self.model.decode)

    # -- chain ----------------------------------------------------------------------------

    async def on_metagraph(self, metagraph: Metagraph) -> None:
        self.app.state.protocol.directory = directory_of(metagraph)
        if self.server is not None:
            await self.announce(metagraph)
            self.log.info("block {} | {}", metagraph.block, self.counted.take_tally().summary())

    async def announce(self, metagraph: Metagraph) -> None:
        """serve_axon when the chain does not already show this address (rate limited)."""
        ip, port = self.config.announced_ip(), self.config.announced_port(self.port)
        axon = metagraph.axons[self.uid] if self.uid is not None else None
        if axon is not None and (axon.ip, axon.port) == (ip, port):
            self.announced = (ip, port)
            return
        # A metagraph read right after announcing may predate the announcement's block.
        settling = self.announced_block + self.config.neuron.sync_every
        if self.announced == (ip, port) and metagraph.block <= settling:
            return
        try:
            await self.chain.serve_axon(self.wallet, self.netuid, ip, port)
        except ChainError as exc:
            self.log.warning(
                "serve_axon {}:{} refused ({}); retrying at the next sync", ip, port, exc
            )
            return
        self.announced, self.announced_block = (ip, port), metagraph.block
        self.log.info("announced axon {}:{} on netuid {}", ip, port, self.netuid)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Check registration, listen, announce: after this, validators can reach the miner."""
        self.config.announced_ip()  # a missing --axon.external_ip fails before anything starts
        await self.check_start()
        try:
            sock = bind_socket(self.config.axon.ip, self.config.axon.port)
        except PortInUse as exc:
            raise StartupError(str(exc)) from exc
        axon = self.config.axon
        fits = raise_file_limit(axon.max_connections)
        if fits < axon.max_connections:
            self.log.warning(
                "the open-file limit leaves room for {} client connections, not the {} of "
                "--axon.max_connections: holding at most {} (raise the hard limit, `ulimit -Hn`, "
                "to hold more)",
                fits,
                axon.max_connections,
                fits,
            )
        limits = axon.connection_limits(fits)
        self.server = HttpServer(self.counted, sock, self.config.neuron.shutdown_timeout, limits)
        await self.server.start()
        self.start_metrics()
        self.log.info(
            "serving {} on {}:{} (policy: permit {}, min stake {:g}; {} concurrent, queue {}; "
            "up to {} connections, {} per address)",
            self.model.name,
            self.config.axon.ip,
            self.port,
            self.config.miner.require_permit,
            self.config.miner.min_stake,
            self.config.miner.max_concurrent,
            self.config.miner.queue_size,
            limits.max_connections,
            limits.max_per_address,
        )
        assert self.metagraph is not None
        await self.announce(self.metagraph)

    async def shutdown(self) -> None:
        """Stop listening, let in-flight requests finish, release the model."""
        if self.server is not None:
            await self.server.stop()
            self.server = None
        await self.model.backend.close()
        self.stop_metrics()
        self.log.info("stopped")

    async def run(self) -> None:
        try:
            await self.start()
            sync = asyncio.create_task(self.sync_loop())
            await self.stopping.wait()
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sync
        finally:
            await self.shutdown()


async def build(config: Config) -> Miner:
    """Wallet, chain and registration first (cheap), then the model (slow) and, for an
    external backend, its checks: a backend that fails them stops the start."""
    chain, wallet = await connect_registered(config)
    model = load_served_model(config)
    await check_served_model(config, model)
    return Miner(config, chain, wallet, model)


def main(argv: list[str] | None = None) -> int:
    try:
        config = load_config(MINER, sys.argv[1:] if argv is None else argv, prog="subnet miner")
        require_model(config)
        config.announced_ip()
        setup_logging(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run_neuron(config, build)


if __name__ == "__main__":
    sys.exit(main())
