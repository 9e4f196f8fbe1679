"""What both neurons share: wallet, chain, registration, metagraph sync, logs, clean stop.

A neuron is an object with `run()`; `main()` in miner.py and validator.py builds one from the
config and runs it under `run_until_signalled`, which turns SIGINT and SIGTERM into
`neuron.stop()`. Everything a neuron needs from outside (the chain, the wallet, the model) is
passed in, so tests run several neurons against one in-process chain.

Start-up mistakes a user can make raise `StartupError` with a message saying what to do;
`main()` prints it and exits with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from loguru import logger
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

import chain as chain_api
from chain import Chain, ChainError, Metagraph, btcli
from chain.errors import CONNECTION
from neurons.config import Config, ConfigError, version_text
from neurons.metrics import MetricsServer, NeuronMetrics, serve_metrics

EXIT_OK = 0
EXIT_STARTUP_ERROR = 1
EXIT_USAGE = 2
# How long one wait for the next sync block may take before the loop checks again.
BLOCK_WAIT_SECONDS = 30.0
LOG_FORMAT = (
    "<green>{time:HH:mm:ss.SSS}</green> | <level>{level: <7}</level> | {extra[neuron]} | {message}"
)
# A log file in --logging.logging_dir starts over at this size; this many old ones are kept.
LOG_FILE_ROTATION = "100 MB"
LOG_FILE_RETENTION = 5


class StartupError(RuntimeError):
    """A neuron cannot start; the message says what the user should do."""


def log_file(config: Config) -> Path | None:
    """Where `--logging.logging_dir` puts this neuron's log, if it is set."""
    folder = config.logging.logging_dir
    if not folder:
        return None
    w = config.wallet
    return Path(folder).expanduser() / f"{config.role}-{w.name}-{w.hotkey}.log"


def setup_logging(config: Config) -> None:
    """One loguru sink on stderr (and one in `--logging.logging_dir`), tagged with the
    neuron's role, at the level the `--logging.*` flags ask for; then the first line, at once:
    what is starting, where."""
    logger.remove()
    logger.configure(extra={"neuron": config.role})
    level = config.logging.level
    logger.add(sys.stderr, level=level, format=LOG_FORMAT)
    path = log_file(config)
    if path is not None:
        try:
            logger.add(
                path,
                level=level,
                format=LOG_FORMAT,
                rotation=LOG_FILE_ROTATION,
                retention=LOG_FILE_RETENTION,
                colorize=False,
            )
        except OSError as exc:
            raise ConfigError(
                f"--logging.logging_dir {config.logging.logging_dir}: cannot write {path} "
                f"({exc.strerror or exc}); give a folder you can write to"
            ) from None
    w = config.wallet
    logger.info(
        "starting {} ({}) on {}, netuid {}, wallet {}/{}{}",
        config.role,
        version_text(),
        config.subtensor.network,
        config.netuid,
        w.name,
        w.hotkey,
        f"; log file {path}" if path else "",
    )


@contextlib.contextmanager
def progress_line(text: str, console: Console | None = None) -> Iterator[None]:
    """A spinner with the elapsed time while the block runs, on a terminal only (a log file
    gets the lines before and after it instead)."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    columns = (SpinnerColumn(), TextColumn(text), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        progress.add_task(text, total=None)
        yield


def limit_model_threads(config: Config) -> None:
    """Apply `--model.threads` before a model is loaded (0 leaves torch's default)."""
    if config.model.threads:
        import torch

        torch.set_num_threads(config.model.threads)


@contextlib.contextmanager
def loading_model(config: Config, what: str = "model") -> Iterator[dict[str, str | None]]:
    """Load the `--model` inside this block: `--model.threads` is applied first, the block gets
    the `device` and `dtype` arguments of inference's loaders (None where the option says
    auto), and a model that cannot be loaded is a StartupError naming `--model`.

    One line says what is loading, a progress line runs meanwhile (on a terminal), and one
    line says how long it took. Hugging Face's own progress bars are switched off: a neuron's
    log is one line per event."""
    model = config.model
    logger.info("loading {} {} (device {}, dtype {})", what, model.name, model.device, model.dtype)
    started = time.monotonic()
    with progress_line(f"loading {what} {model.name}"):
        # Importing torch and transformers is seconds of the load: inside the progress line.
        from transformers.utils import logging as transformers_logging

        from inference.types import ModelLoadError

        transformers_logging.disable_progress_bar()
        limit_model_threads(config)
        try:
            yield {
                "device": None if model.device == "auto" else model.device,
                "dtype": None if model.dtype == "auto" else model.dtype,
            }
        except (ModelLoadError, OSError, ValueError) as exc:
            raise StartupError(f"--model {model.name}: {exc}") from exc
    logger.info("{} {} loaded in {:.1f} s", what, model.name, time.monotonic() - started)


def subnet_command(config: Config, *words: str, network: bool = True) -> str:
    """A `subnet` command line for this neuron's wallet (and network, unless the default)."""
    w = config.wallet
    where = ["--network", config.subtensor.network] if network else []
    if where == ["--network", "dev"]:
        where = []
    wallet = ["--wallet.name", w.name, "--wallet.hotkey", w.hotkey, "--wallet.path", w.path]
    return " ".join(["subnet", *words, *where, *wallet])


def wallet_hint(config: Config, coldkey_exists: bool) -> str:
    """How to create the configured hotkey: `subnet wallet create` (which adds a hotkey to an
    existing coldkey), or btcli 9's command for the same."""
    w = config.wallet
    ours = subnet_command(config, "wallet", "create", network=False)
    if coldkey_exists:
        theirs = btcli.wallet_new_hotkey(w.name, w.hotkey, w.path)
        return f"add it with `{ours}` (the coldkey stays as it is) or `{theirs}`"
    return f"create it with `{ours}` or `{btcli.wallet_create(w.name, w.hotkey, w.path)}`"


def load_wallet(config: Config):
    """The configured `bittensor.Wallet`, or StartupError naming the command that creates it.

    Only the hotkey is read: neurons sign with it, and never need the coldkey.
    """
    import bittensor

    w = config.wallet
    wallet = bittensor.Wallet(name=w.name, hotkey=w.hotkey, path=str(Path(w.path).expanduser()))
    hotkey_file = Path(w.path).expanduser() / w.name / "hotkeys" / w.hotkey
    if not hotkey_file.exists():
        coldkey_exists = (hotkey_file.parent.parent / "coldkeypub.txt").exists()
        raise StartupError(
            f"no hotkey {w.hotkey!r} in wallet {w.name!r} under {w.path} ({hotkey_file} does "
            f"not exist): {wallet_hint(config, coldkey_exists)}; or pass --wallet.name/"
            "--wallet.hotkey/--wallet.path of an existing one"
        )
    try:
        wallet.hotkey  # noqa: B018 (reading it is the check: a locked or damaged file fails here)
    except Exception as exc:
        raise StartupError(f"cannot read hotkey file {hotkey_file}: {exc}") from exc
    return wallet


def register_hint(config: Config, hotkey: str) -> str:
    w = config.wallet
    network = config.subtensor.network
    where = f"netuid {config.netuid} on {network}"
    ours = subnet_command(config, "register", "--netuid", str(config.netuid))
    how = f"register it with `{ours}` (it burns the registration cost from the coldkey)"
    if not config.is_local_network:
        theirs = btcli.subnets_register(config.netuid, w.name, w.hotkey, network, w.path)
        how += f", or `{theirs}`"
    return f"hotkey {hotkey} is not registered on {where}: {how}"


def unreadable_subnet(config: Config, exc: ChainError) -> str:
    network = config.subtensor.network
    hint = ""
    if exc.code == CONNECTION and config.is_local_network:
        hint = " (is the dev chain running? start it with `subnet devchain`)"
    elif exc.code == CONNECTION:
        hint = f" (check this machine's connection to {chain_api.endpoint_of(network)})"
    return f"cannot read netuid {config.netuid} on {network}: {exc}{hint}"


async def preflight(chain: Chain, config: Config, hotkey: str) -> int:
    """The hotkey's uid, or StartupError saying how to register; run before loading a model."""
    try:
        metagraph = await chain.metagraph(config.netuid)
    except ChainError as exc:
        raise StartupError(unreadable_subnet(config, exc)) from exc
    uid = metagraph.uid_of(hotkey)
    if uid is None:
        raise StartupError(register_hint(config, hotkey))
    return uid


def connect_chain(config: Config) -> Chain:
    try:
        return chain_api.connect(config.subtensor.network)
    except ChainError as exc:
        raise StartupError(f"--subtensor.network: {exc.message}") from exc


async def connect_registered(config: Config) -> tuple[Chain, object]:
    """The chain and the wallet, once the wallet's hotkey is known to be registered.

    Both neurons do this first: it is cheap, and a mistake here should not wait for a model
    to load."""
    wallet = load_wallet(config)
    chain = connect_chain(config)
    await preflight(chain, config, wallet.hotkey.ss58_address)
    return chain, wallet


class Neuron:
    """The lifecycle both neurons share. Subclasses implement `run()` and `on_metagraph()`,
    and name their role's metrics class."""

    role = "neuron"
    metrics_class: type[NeuronMetrics] = NeuronMetrics

    def __init__(self, config: Config, chain: Chain, wallet, metrics: NeuronMetrics | None = None):
        self.config = config
        self.netuid = config.netuid
        self.chain = chain
        self.wallet = wallet
        self.hotkey: str = wallet.hotkey.ss58_address
        self.metrics = metrics or self.metrics_class(config.netuid, self.hotkey)
        self.metagraph: Metagraph | None = None
        self.uid: int | None = None
        self.last_sync_block = -1
        self._stopping: asyncio.Event | None = None
        self._metrics_server: MetricsServer | None = None

    # -- stopping -------------------------------------------------------------------------

    @property
    def stopping(self) -> asyncio.Event:
        if self._stopping is None:
            self._stopping = asyncio.Event()
        return self._stopping

    def stop(self) -> None:
        """Ask the neuron to stop: in-flight work finishes (within the shutdown timeout)."""
        if not self.stopping.is_set():
            logger.info("stopping: finishing in-flight work")
        self.stopping.set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless stopped first; True when the neuron is stopping."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), max(0.0, seconds))
        return self.stopping.is_set()

    async def until_stopped(self, awaitable: Awaitable) -> object | None:
        """Await `awaitable`, or give up (cancelling it) when the neuron is asked to stop."""
        task = asyncio.ensure_future(awaitable)
        stopper = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        return task.result() if task.done() and not task.cancelled() else None

    # -- chain ----------------------------------------------------------------------------

    async def sync(self) -> Metagraph:
        """Read the metagraph, check this hotkey is still registered, and tell the subclass."""
        metagraph = await self.chain.metagraph(self.netuid)
        uid = metagraph.uid_of(self.hotkey)
        if uid is None:
            raise StartupError(register_hint(self.config, self.hotkey))
        if self.uid is not None and uid != self.uid:
            logger.warning("this hotkey moved from uid {} to uid {}", self.uid, uid)
        self.metagraph, self.uid, self.last_sync_block = metagraph, uid, metagraph.block
        self.metrics.observe_chain(metagraph, uid)
        await self.on_metagraph(metagraph)
        return metagraph

    async def on_metagraph(self, metagraph: Metagraph) -> None:
        """Called after every sync; subclasses refresh what depends on the metagraph."""

    async def check_start(self) -> None:
        """The first sync: a missing subnet or an unregistered hotkey stops the start."""
        try:
            await self.sync()
        except ChainError as exc:
            raise StartupError(unreadable_subnet(self.config, exc)) from exc
        logger.info(
            "uid {} on netuid {} ({}), block {}, {} neurons",
            self.uid,
            self.netuid,
            self.config.subtensor.network,
            self.last_sync_block,
            self.metagraph.n if self.metagraph else 0,
        )

    async def sync_loop(self) -> None:
        """Re-read the metagraph every `--neuron.sync_every` blocks until stopped.

        A failed read is logged and retried at the next block; deregistration stops the neuron.
        """
        every = self.config.neuron.sync_every
        while not self.stopping.is_set():
            target = self.last_sync_block + every
            try:
                reached = await self.until_stopped(
                    self.chain.wait_for_block(target, timeout=BLOCK_WAIT_SECONDS)
                )
                if reached is None:
                    continue
                await self.sync()
            except StartupError as exc:
                logger.error("deregistered: {}", exc)
                self.stop()
            except TimeoutError:
                logger.debug("no block {} yet; still waiting", target)
            except (ChainError, OSError) as exc:
                logger.warning("metagraph sync failed ({}); retrying", exc)
                await self.sleep(1.0)

    # -- metrics --------------------------------------------------------------------------

    def start_metrics(self) -> None:
        port = self.config.metrics.port
        if port is None:
            return
        try:
            self._metrics_server = serve_metrics(self.metrics, self.config.metrics.ip, port)
        except OSError as exc:
            raise StartupError(
                f"cannot serve metrics on {self.config.metrics.ip}:{port} ({exc.strerror}): "
                "pass another --metrics.port"
            ) from exc
        logger.info(
            "metrics at http://{}:{}/metrics", self.config.metrics.ip, self._metrics_server.port
        )

    @property
    def metrics_port(self) -> int | None:
        """The port of the running `/metrics` endpoint, if any."""
        return self._metrics_server.port if self._metrics_server is not None else None

    def stop_metrics(self) -> None:
        if self._metrics_server is not None:
            self._metrics_server.close()
            self._metrics_server = None

    async def run(self) -> None:  # pragma: no cover - each neuron defines its own
        raise NotImplementedError


async def run_until_signalled(neuron: Neuron) -> None:
    """Run `neuron`, turning SIGINT/SIGTERM into a clean `neuron.stop()`."""
    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, neuron.stop)
    try:
        await neuron.run()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def run_neuron(config: Config, build: Callable[[Config], Awaitable[Neuron]]) -> int:
    """The body of both `main()`s: build the neuron, run it until signalled.

    A user's mistake found on the way (no wallet, not registered, port in use) is logged as
    one line and gives exit status 1.
    """

    async def go() -> None:
        await run_until_signalled(await build(config))

    try:
        asyncio.run(go())
    except (StartupError, ConfigError) as exc:
        logger.error("{}", exc)
        return EXIT_STARTUP_ERROR
    return EXIT_OK


def require_model(config: Config) -> None:
    if not config.model.name:
        raise ConfigError(
            "--model is required: a Hugging Face model name or a local path (build the tiny "
            "test model with `python -m inference.tiny --out models/tiny`)"
        )
