"""What goes into and comes out of inference/: requests, completions, verdicts, errors.

Plain dataclasses, independent of the wire: neurons/ translates protocol schemas to these.

Logprob, everywhere in inference/: the natural log of the probability the model gives a token
at its position, ``log_softmax(logits)`` of the model's raw output in float32, before
temperature, top-p or any other sampling rule. It therefore does not depend on how a token was
chosen, and a verifier recomputes it from the prompt and the preceding tokens alone.

Completion tokens: ``Completion.token_ids`` holds every token the model produced, including
the end-of-sequence token when generation stopped on one (its logprob is checkable like any
other); ``Completion.text`` leaves special tokens out, and leaves out a matched stop string
and anything after it.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

FinishReason = Literal["stop", "length"]
FINISH_REASONS: tuple[str, ...] = ("stop", "length")
# The most alternatives a request may ask for per token (OpenAI's own limit).
MAX_TOP_LOGPROBS = 20


class InvalidRequest(ValueError):
    """A generation request that cannot be served; nothing reached the model."""


class InvalidCompletion(ValueError):
    """A completion handed to the verifier that is malformed; nothing reached the model.

    A validator should score it as a failed verification.
    """


class ModelLoadError(ValueError):
    """The model could not be loaded; the message says what to pass instead."""


class ModelOutOfMemory(RuntimeError):
    """The accelerator ran out of memory running a batch; the requests in it were not at fault.

    Raised for the requests of that batch only (the engine serves later ones, the verifier
    verifies later calls). The message says what failed and what to change; ``batch_size`` is
    how many requests or completions the failed batch held.
    """

    def __init__(self, message: str, batch_size: int) -> None:
        super().__init__(message)
        self.batch_size = batch_size


class TokenLogprob(NamedTuple):
    token_id: int
    logprob: float


@dataclass(frozen=True)
class GenerationRequest:
    """One completion to generate: a chat (``messages``) or a plain text ``prompt``.

    ``temperature`` 0 is greedy decoding. With ``temperature`` > 0 tokens are sampled from
    ``softmax(logits / temperature)`` restricted to the top-p nucleus, drawing from a
    generator seeded with ``seed`` (a random seed when None), so a seed gives the same tokens
    whether the request runs alone or in a batch. ``stop`` strings end generation when they
    appear in the text. ``top_logprobs`` asks for that many alternatives per token.
    ``ignore_eos`` keeps generating past end-of-sequence (benchmarks use it to fix lengths).
    """

    messages: tuple[Mapping[str, str], ...] | None = None
    prompt: str | None = None
    max_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_logprobs: int = 0
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        if self.messages is not None:
            object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "stop", tuple(self.stop))
        _check_request_fields(self)

    @property
    def is_chat(self) -> bool:
        return self.messages is not None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def _check_request_fields(req: GenerationRequest) -> None:
    if (req.messages is None) == (req.prompt is None):
        raise InvalidRequest("give exactly one of messages (chat) or prompt (text)")
    if req.prompt is not None and not req.prompt:
        raise InvalidRequest("prompt is empty: give some text to complete")
    if req.messages is not None:
        _check_messages(req.messages)
    if isinstance(req.max_tokens, bool) or not isinstance(req.max_tokens, int):
        raise InvalidRequest(f"max_tokens must be an integer, got {req.max_tokens!r}")
    if req.max_tokens < 1:
        raise InvalidRequest(f"max_tokens must be at least 1, got {req.max_tokens}")
    if not (math.isfinite(req.temperature) and req.temperature >= 0):
        raise InvalidRequest(f"temperature must be >= 0 (0 is greedy), got {req.temperature}")
    if not (0 < req.top_p <= 1):
        raise InvalidRequest(f"top_p must be in (0, 1], got {req.top_p}")
    if req.seed is not None and not (isinstance(req.seed, int) and req.seed >= 0):
        raise InvalidRequest(f"seed must be a non-negative integer, got {req.seed!r}")
    if any(not isinstance(s, str) or not s for s in req.stop):
        raise InvalidRequest("stop strings must be non-empty strings")
    if not (0 <= req.top_logprobs <= MAX_TOP_LOGPROBS):
        raise InvalidRequest(
            f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}, got {req.top_logprobs}"
        )


def _check_messages(messages: Sequence[Mapping[str, str]]) -> None:
    if not messages:
        raise InvalidRequest("messages is empty: give at least one message")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or set(message) != {"role", "content"}:
            raise InvalidRequest(f"message {i} must have exactly the keys role and content")
        if not isinstance(message["role"], str) or not message["role"]:
            raise InvalidRequest(f"message {i} needs a role (system, user, assistant, ...)")
        if not isinstance(message["content"], str):
            raise InvalidRequest(f"message {i} content must be a string")
    if not any(m["content"] for m in messages):
        raise InvalidRequest("every message is empty: give some content")


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> Usage:
        return cls(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)


@dataclass(frozen=True)
class Completion:
    """A finished generation (see the module docstring for what token_ids and logprob mean)."""

    text: str
    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    finish_reason: FinishReason
    usage: Usage
    prompt_token_ids: tuple[int, ...] = ()
    top_logprobs: tuple[tuple[TokenLogprob, ...], ...] = ()


@dataclass(frozen=True)
class StreamDelta:
    """One token as it is produced. The last delta of a stream carries the ``completion``.

    ``text`` is the new text this token makes final; it can be empty (a multi-byte character
    is still incomplete, or the text could be the start of a stop string).
    """

    token_id: int
    logprob: float
    text: str
    top_logprobs: tuple[TokenLogprob, ...] = ()
    completion: Completion | None = None


class GenerationBackend(Protocol):
    """What a miner serves with: inference.engine.Engine or openai_backend.OpenAIBackend."""

    async def generate(self, request: GenerationRequest) -> Completion: ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class VerifyConfig:
    """Thresholds of the verifier, calibrated with ``python -m inference.calibrate``.

    Honest figures on the tiny model (96 completions per miner: greedy and sampled at
    T 0.7-1.0, top_p 0.8-1.0, batches of 1, 4 and 16; verifier in float32 on CPU), with the
    margin each default leaves:

    ====================  ========  ========  ========  =======  =============
    figure                float32   float16   bfloat16  default  margin (bf16)
    ====================  ========  ========  ========  =======  =============
    max abs logprob diff  8.0e-5    0.13      1.54      3.0      1.9x
    max |sum|/sqrt(n)     2.5e-5    0.040     0.56      1.5      2.7x
    max greedy gap        0         0.087     0.68      1.5      2.2x
    max sampled rank      4         6         3         50       8x
    needed nucleus slack  0         0         0.59      1.2      2.0x
    max skipped EOS prob  4.7e-4    4.7e-4    6.8e-4    0.999    +0.998
    ====================  ========  ========  ========  =======  =============

    A bfloat16 miner against a float32 verifier stands in for other GPUs, kernels and
    precisions, and is by far the worst case measured (it flips greedy choices by up to 0.68
    nats). The cheats of tests/inference/test_verify_detection.py land at greedy gaps of
    several nats, logprob errors of whole nats, or a bias statistic of 2.5 and more. The
    nucleus rule gives an honest sampler the benefit of the doubt (every logit moved by up
    to nucleus_slack in its favour), so it catches implausible tokens, not near-misses; and
    honest samples at temperature 1 without top_p can pick rare tokens, so ``max_rank`` is a
    loose bound. Validators that want sharp checks send greedy requests.
    """

    # A claimed logprob may differ from the verifier's by this much (nats) at any token.
    logprob_tolerance: float = 3.0
    # |sum of (claimed - verifier)| / sqrt(tokens) may not exceed this: honest noise
    # averages out, a systematic inflation does not (inference.judge.bias_statistic).
    bias_tolerance: float = 1.5
    # Greedy requests: every token's logprob must be within this of the best token's.
    greedy_max_gap: float = 1.5
    # Sampled requests: every token must rank within this many tokens.
    max_rank: int = 50
    # Sampled requests with top_p < 1: a token is inside the nucleus if it would be with every
    # logit moved by up to this much (nats) in its favour (inference.sampling.nucleus_mass).
    nucleus_slack: float = 1.2
    # Sampled requests: skipping an end-of-sequence the sampler would have drawn with at
    # least this probability is a failure.
    eos_confidence: float = 0.999
    # Verify at most this many tokens (prompt + completion, padded) per forward pass.
    max_batch_tokens: int = 16384
    # The fixed cost of one forward pass, counted in padded tokens: verify_many groups
    # completions of similar length into passes so that padding plus this cost per pass is
    # least. Larger on a GPU (fewer, wider passes), smaller on a CPU.
    pass_overhead_tokens: int = 256

    def __post_init__(self) -> None:
        for name in ("logprob_tolerance", "bias_tolerance", "greedy_max_gap"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_rank < 1:
            raise ValueError(f"max_rank must be at least 1, got {self.max_rank}")
        if self.nucleus_slack < 0:
            raise ValueError(f"nucleus_slack must be >= 0, got {self.nucleus_slack}")
        if not (0 < self.eos_confidence <= 1):
            raise ValueError(f"eos_confidence must be in (0, 1], got {self.eos_confidence}")
        if self.max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens must be at least 1, got {self.max_batch_tokens}")
        if self.pass_overhead_tokens < 0:
            raise ValueError(f"pass_overhead_tokens must be >= 0, got {self.pass_overhead_tokens}")


# The reason code of a completion the verifier refused as malformed (see Verdict.malformed).
MALFORMED = "malformed"


@dataclass(frozen=True)
class Finding:
    """One reason a completion failed verification.

    ``code`` is stable and machine-readable (inference.judge says when each applies):
    token_rank, not_greedy, outside_nucleus, false_eos, skipped_eos, eos_inside, false_stop,
    false_length, too_long, missed_stop, logprob_mismatch, logprob_bias,
    top_logprobs_mismatch, usage_mismatch, prompt_mismatch; and ``malformed`` (MALFORMED)
    when ``Verifier.verify_many`` refused the item before any model work.
    ``position`` is the completion token it concerns, if any.
    """

    code: str
    message: str
    position: int | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of verifying one completion; ``ok`` when ``reasons`` is empty.

    ``ranks`` (1 = the verifier's most likely token) and ``logprobs`` are the verifier's, one
    per completion token. ``max_logprob_diff`` is the largest |claimed - verifier| and
    ``mean_logprob_diff`` the signed mean of claimed - verifier. A malformed completion
    (``Verdict.malformed``) has no ranks or logprobs, and NaN differences: nothing was compared.
    """

    reasons: tuple[Finding, ...]
    ranks: tuple[int, ...]
    logprobs: tuple[float, ...]
    max_logprob_diff: float
    mean_logprob_diff: float
    prompt_tokens: int

    @classmethod
    def malformed(cls, message: str) -> Verdict:
        """The failed verdict of a completion refused before any model work."""
        return cls((Finding(MALFORMED, message),), (), (), math.nan, math.nan, 0)

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(f.code for f in self.reasons)


@dataclass(frozen=True)
class VerifyItem:
    """One completion to verify, with what its miner claimed about it."""

    request: GenerationRequest
    token_ids: Sequence[int]
    logprobs: Sequence[float]
    finish_reason: str
    usage: Usage
    prompt_token_ids: Sequence[int] | None = None
    top_logprobs: Sequence[Sequence[TokenLogprob]] | None = None

    @classmethod
    def of(cls, request: GenerationRequest, completion: Completion) -> VerifyItem:
        return cls(
            request=request,
            token_ids=completion.token_ids,
            logprobs=completion.logprobs,
            finish_reason=completion.finish_reason,
            usage=completion.usage,
            prompt_token_ids=completion.prompt_token_ids or None,
            top_logprobs=completion.top_logprobs or None,
        )
