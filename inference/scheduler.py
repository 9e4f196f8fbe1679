"""Continuous batching: which sequences run at each step, and what each step produces.

A step is either a prefill or a decode, in the manner of nano-vllm. When requests wait and the
batch has room, the step prefills them (up to ``max_batch_size`` rows in all and
``max_prefill_tokens`` prompt tokens, at least one request) and they join the running batch
with their first token; otherwise the step decodes one token for every running sequence.
Sequences leave the batch as soon as they finish or are cancelled, so a short request never
waits for a long one. Everything here runs on one thread (the engine's worker); the callbacks
of a sequence are how results leave it.

Per token: logprobs are ``log_softmax`` of the raw logits (inference.types); the token is the
subnet's sampler's choice (inference.sampler) for the request's temperature, top_p and seed at
that position, so a request gives the same tokens alone or in any batch. A sampled request
without a seed gets a random one.
A sequence finishes with "stop" on an end-of-sequence token (kept in ``token_ids``) or when
its text contains a stop string (the text is cut before it), and with "length" at
``max_tokens``.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from inference.kv_batch import KVBatch
from inference.sampler import choose, log_probs
from inference.types import (
    MAX_SEED,
    Completion,
    GenerationRequest,
    StreamDelta,
    TokenLogprob,
    Usage,
)

# The character a decoder emits for an incomplete multi-byte sequence.
_INCOMPLETE = "\ufffd"


class RequestCancelled(Exception):
    """The caller gave up on the request (what ``on_done`` gets for a cancelled sequence)."""


@dataclass(eq=False)
class Sequence:
    """One request in flight. ``on_done`` is called exactly once, with the Completion or the
    exception that ended it (RequestCancelled when ``cancelled`` was set); ``on_token``, when
    set, gets a StreamDelta per token (the last one carries the Completion)."""

    request: GenerationRequest
    prompt_ids: list[int]
    on_done: Callable[[Completion | BaseException], None]
    on_token: Callable[[StreamDelta], None] | None = None
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    top_logprobs: list[tuple[TokenLogprob, ...]] = field(default_factory=list)
    text: str = ""
    streamed_chars: int = 0
    finish_reason: str | None = None
    cancelled: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        seed = self.request.seed
        self.seed = secrets.randbelow(MAX_SEED + 1) if seed is None else seed

    @property
    def needs_text(self) -> bool:
        """Whether text must be tracked at every token (streaming or stop strings)."""
        return self.on_token is not None or bool(self.request.stop)


class Scheduler:
    """Waiting and running sequences over one KVBatch; see the module docstring."""

    def __init__(
        self,
        batch: KVBatch,
        tokenizer,
        eos_token_ids: frozenset[int],
        *,
        max_batch_size: int,
        max_prefill_tokens: int,
    ):
        self.batch = batch
        self.tokenizer = tokenizer
        self.eos_token_ids = eos_token_ids
        self.max_batch_size = max_batch_size
        self.max_prefill_tokens = max_prefill_tokens
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def step(self) -> None:
        """One prefill of waiting sequences, or one decode of the running ones."""
        self._drop_cancelled()
        admitted = self._admit()
        if admitted:
            # Running from here on, so that a prefill that fails fails them with the batch.
            self.running.extend(admitted)
            logits = self.batch.prefill([s.prompt_ids for s in admitted])
            self._advance(admitted, logits)
        elif self.running:
            logits = self.batch.decode([s.token_ids[-1] for s in self.running])
            self._advance(self.running, logits)
        self._retire()

    def fail_all(self, exc: BaseException) -> None:
        """End every sequence with ``exc`` and start from an empty batch."""
        self.fail_batch(exc)
        for seq in self.waiting:
            seq.on_done(RequestCancelled() if seq.cancelled else exc)
        self.waiting.clear()

    def fail_batch(self, exc: BaseException) -> None:
        """End the running sequences (those of the failed step too) with ``exc`` and drop
        their cache; waiting sequences stay and run at the next step."""
        for seq in self.running:
            seq.on_done(RequestCancelled() if seq.cancelled else exc)
        self.running.clear()
        self.batch.keep([])

    def _drop_cancelled(self) -> None:
        if any(s.cancelled for s in self.waiting):
            for seq in self.waiting:
                if seq.cancelled:
                    seq.on_done(RequestCancelled())
            self.waiting = deque(s for s in self.waiting if not s.cancelled)
        if any(s.cancelled for s in self.running):
            self._retire()

    def _admit(self) -> list[Sequence]:
        if self.running and not self.batch.supports_joining:
            return []
        admitted: list[Sequence] = []
        tokens = 0
        while self.waiting and len(self.running) + len(admitted) < self.max_batch_size:
            size = len(self.waiting[0].prompt_ids)
            if admitted and tokens + size > self.max_prefill_tokens:
                break
            admitted.append(self.waiting.popleft())
            tokens += size
        return admitted

    def _advance(self, seqs: list[Sequence], logits: torch.Tensor) -> None:
        logprobs = log_probs(logits)
        tokens = choose(
            logits,
            [s.request.temperature for s in seqs],
            [s.request.top_p for s in seqs],
            [s.seed for s in seqs],
            [len(s.token_ids) for s in seqs],
        )
        chosen = logprobs.gather(-1, torch.tensor(tokens, device=logits.device)[:, None])
        chosen = chosen.squeeze(-1).tolist()
        alternatives = self._alternatives(seqs, logprobs)
        for i, seq in enumerate(seqs):
            self._append(seq, tokens[i], chosen[i], alternatives[i])

    @staticmethod
    def _alternatives(seqs: list[Sequence], logprobs: torch.Tensor) -> list[tuple]:
        k = max(s.request.top_logprobs for s in seqs)
        if k == 0:
            return [()] * len(seqs)
        values, ids = logprobs.topk(min(k, logprobs.shape[-1]), dim=-1)
        values, ids = values.tolist(), ids.tolist()
        return [
            tuple(map(TokenLogprob, ids[i], values[i]))[: s.request.top_logprobs]
            for i, s in enumerate(seqs)
        ]

    def _append(self, seq: Sequence, token: int, logprob: float, top: tuple) -> None:
        request = seq.request
        seq.token_ids.append(token)
        seq.logprobs.append(logprob)
        if request.top_logprobs:
            seq.top_logprobs.append(top)
        if token in self.eos_token_ids and not request.ignore_eos:
            seq.finish_reason = "stop"
        if seq.needs_text:
            seq.text = self.tokenizer.decode(seq.token_ids, skip_special_tokens=True)
            cut = _first_stop(seq.text, request.stop)
            if cut is not None:
                seq.text, seq.finish_reason = seq.text[:cut], "stop"
        if seq.finish_reason is None and len(seq.token_ids) >= request.max_tokens:
            seq.finish_reason = "length"
        if seq.on_token is not None:
            self._stream(seq, token, logprob, top)

    def _stream(self, seq: Sequence, token: int, logprob: float, top: tuple) -> None:
        final = seq.finish_reason is not None
        stable = seq.text if final else _stable_prefix(seq.text, seq.request.stop)
        delta = stable[seq.streamed_chars :] if len(stable) > seq.streamed_chars else ""
        seq.streamed_chars = max(seq.streamed_chars, len(stable))
        completion = self._completion(seq) if final else None
        seq.on_token(StreamDelta(token, logprob, delta, top, completion))

    def _retire(self) -> None:
        keep = [i for i, s in enumerate(self.running) if not (s.finish_reason or s.cancelled)]
        if len(keep) == len(self.running):
            return
        for seq in self.running:
            if seq.cancelled:
                seq.on_done(RequestCancelled())
            elif seq.finish_reason:
                seq.on_done(self._completion(seq))
        self.batch.keep(keep)
        self.running = [self.running[i] for i in keep]

    def _completion(self, seq: Sequence) -> Completion:
        if not seq.needs_text:
            seq.text = self.tokenizer.decode(seq.token_ids, skip_special_tokens=True)
        return Completion(
            text=seq.text,
            token_ids=tuple(seq.token_ids),
            logprobs=tuple(seq.logprobs),
            finish_reason=seq.finish_reason or "length",
            usage=Usage.of(len(seq.prompt_ids), len(seq.token_ids)),
            prompt_token_ids=tuple(seq.prompt_ids),
            top_logprobs=tuple(seq.top_logprobs),
        )


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    """Where the earliest stop string starts in ``text``, or None."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def _stable_prefix(text: str, stops: tuple[str, ...]) -> str:
    """The part of unfinished text that later tokens cannot change or cut.

    Holds back an incomplete multi-byte character, and the tail that could still grow into a
    stop string.
    """
    text = text.rstrip(_INCOMPLETE)
    hold = max((len(s) - 1 for s in stops), default=0)
    return text[: len(text) - hold] if hold else text
