"""The miner's engine: batched generation with logprobs, behind an async API.

    engine = Engine.from_pretrained("runs/tiny")          # or Engine(load_model(...))
    completion = await engine.generate(GenerationRequest(prompt="the river", max_tokens=32))
    async for delta in engine.stream(request):             # one StreamDelta per token
        ...                                                # delta.completion on the last one
    await engine.close()                                   # or: async with engine: ...

Requests are checked and tokenised in the caller, so a bad one raises InvalidRequest before it
reaches the model. Good ones go to a worker thread that owns the model and runs the scheduler
(inference.scheduler, continuous batching): requests that arrive while the engine is idle are
collected for ``batch_window_s`` and prefilled together, requests that arrive while it is busy
join the running batch at the next step, and every sequence leaves as soon as it finishes.
Padding, attention masks and position ids keep each row equal to the same request run alone
(inference.kv_batch). Cancelling the awaiting task (a client that went away) drops the
sequence at the next step. ``max_pending`` bounds what may wait or run at once; beyond it
``generate`` raises EngineBusy at once rather than queueing without bound. A step that runs
out of accelerator memory fails the sequences of its batch with ModelOutOfMemory, releases the
memory, and the engine goes on with the requests still waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from loguru import logger

from inference.kv_batch import KVBatch
from inference.loading import LoadedModel, load_model, pad_token_id_of
from inference.memory import OutOfMemoryError, first_line, release_memory
from inference.prompts import Limits, prepare
from inference.scheduler import Scheduler, Sequence
from inference.types import Completion, GenerationRequest, ModelOutOfMemory, StreamDelta

_STOP = object()


class EngineBusy(RuntimeError):
    """The engine already holds ``max_pending`` requests: try again later (HTTP 429/503)."""


class EngineClosed(RuntimeError):
    """The engine was closed before the request finished."""


@dataclass(frozen=True)
class EngineConfig:
    max_batch_size: int = 32
    # How long an idle engine waits for more requests before prefilling what it has
    # (requests arriving later join the running batch at the next step anyway).
    batch_window_s: float = 0.002
    max_new_tokens: int = 1024
    max_prefill_tokens: int = 8192
    max_pending: int = 256

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_new_tokens", "max_prefill_tokens", "max_pending"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_window_s < 0:
            raise ValueError(f"batch_window_s must be >= 0, got {self.batch_window_s}")


class Engine:
    """Generation over one loaded model; see the module docstring."""

    def __init__(self, loaded: LoadedModel, config: EngineConfig | None = None):
        self.loaded = loaded
        self.config = config or EngineConfig()
        self.limits = Limits(loaded.context_length, self.config.max_new_tokens)
        tokenizer = loaded.tokenizer
        pad = pad_token_id_of(tokenizer, loaded.eos_token_ids)
        self._scheduler = Scheduler(
            KVBatch(loaded.model, loaded.device, pad),
            tokenizer,
            loaded.eos_token_ids,
            max_batch_size=self.config.max_batch_size,
            max_prefill_tokens=self.config.max_prefill_tokens,
        )
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        config: EngineConfig | None = None,
    ) -> Engine:
        return cls(load_model(name_or_path, device=device, dtype=dtype), config)

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    @property
    def pending(self) -> int:
        """Requests waiting or running now."""
        return self._pending

    def prepare(self, request: GenerationRequest) -> list[int]:
        """Prompt token ids of a request, or InvalidRequest saying what to fix."""
        return prepare(self.loaded.tokenizer, request, self.limits)

    async def generate(self, request: GenerationRequest) -> Completion:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[Completion] = loop.create_future()
        seq = Sequence(request, self.prepare(request), on_done=lambda r: _settle(loop, result, r))
        self._submit(seq)
        try:
            return await result
        finally:
            seq.cancelled = not result.done() or result.cancelled()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue[StreamDelta | BaseException] = asyncio.Queue()

        def on_done(outcome: Completion | BaseException) -> None:
            if isinstance(outcome, BaseException):  # a Completion came with the last delta
                _post(loop, deltas.put_nowait, outcome)

        seq = Sequence(
            request,
            self.prepare(request),
            on_done=on_done,
            on_token=lambda delta: _post(loop, deltas.put_nowait, delta),
        )
        self._submit(seq)
        finished = False
        try:
            while not finished:
                item = await deltas.get()
                if isinstance(item, BaseException):
                    raise item
                finished = item.completion is not None
                yield item
        finally:
            seq.cancelled = not finished

    async def close(self) -> None:
        """Stop the worker; requests still in flight fail with EngineClosed."""
        self._closed = True
        if self._thread is not None:
            self._inbox.put(_STOP)
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    def _submit(self, seq: Sequence) -> None:
        if self._closed:
            raise EngineClosed("the engine is closed")
        with self._lock:
            if self._pending >= self.config.max_pending:
                raise EngineBusy(
                    f"{self._pending} requests already pending (max_pending "
                    f"{self.config.max_pending}): retry later"
                )
            self._pending += 1
        done = seq.on_done
        reported = False

        def on_done(outcome: Completion | BaseException) -> None:
            nonlocal reported
            if reported:  # a failing callback must not count a request twice
                return
            reported = True
            with self._lock:
                self._pending -= 1
            done(outcome)

        seq.on_done = on_done
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="inference-engine", daemon=True)
            self._thread.start()
        self._inbox.put(seq)

    def _work(self) -> None:
        scheduler = self._scheduler
        running = True
        while running:
            if not scheduler.has_work():
                item = self._inbox.get()
                running = item is not _STOP and self._collect(item, self.config.batch_window_s)
            else:
                running = self._collect(None, 0.0)
            if running and scheduler.has_work():
                self._step()
        scheduler.fail_all(EngineClosed("the engine was closed"))
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._inbox.get_nowait()
                if item is not _STOP:
                    item.on_done(EngineClosed("the engine was closed"))

    def _step(self) -> None:
        """One scheduler step; a failed step fails its sequences, not the engine."""
        scheduler = self._scheduler
        try:
            scheduler.step()
        except OutOfMemoryError as exc:
            detail = first_line(exc)
        except Exception as exc:
            logger.exception("inference step failed")
            scheduler.fail_all(exc)
            return
        else:
            return
        # Out of the except block, so that the traceback no longer holds the step's tensors.
        batch_size = len(scheduler.running)  # the failed step's sequences are all running
        error = ModelOutOfMemory(
            f"out of {self.loaded.device.type} memory on a batch of {batch_size} requests "
            f"({detail}): run fewer requests at once (EngineConfig.max_batch_size), load the "
            "model in a smaller dtype, or use a smaller model",
            batch_size,
        )
        scheduler.fail_batch(error)
        release_memory(self.loaded.device)
        logger.warning("{}; the engine goes on with the next requests", error)

    def _collect(self, first: Sequence | None, window_s: float) -> bool:
        """Add ``first`` and whatever arrives within ``window_s``; False once asked to stop."""
        if first is not None:
            self._scheduler.add(first)
        deadline = time.monotonic() + window_s
        while len(self._scheduler.waiting) < self.config.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._inbox.get(timeout=remaining)
                    if remaining > 0
                    else self._inbox.get_nowait()
                )
            except queue.Empty:
                return True
            if item is _STOP:
                return False
            self._scheduler.add(item)
        return True


def _post(loop: asyncio.AbstractEventLoop, callback, *args) -> None:
    """Run callback on the caller's event loop; a loop already closed has nobody to tell."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def _settle(loop: asyncio.AbstractEventLoop, future: asyncio.Future, outcome) -> None:
    def settle() -> None:
        if future.done():  # cancelled by its caller
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    _post(loop, settle)
