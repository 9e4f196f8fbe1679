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
# Seeds are non-negative and fit a signed 64-bit integer: what JSON parsers, torch and vLLM
# all take.
MAX_SEED = 2**63 - 1
# A temperature below this is greedy decoding (inference.sampler); vLLM uses the same bound.
# Dividing logits by a smaller one (1e-38, say) would overflow float32.
GREEDY_TEMPERATURE = 1e-5


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

    ``temperature`` 0 (or below GREEDY_TEMPERATURE) is greedy decoding. Otherwise tokens are
    sampled from ``softmax(logits / temperature)`` restricted to the top-p nucleus by the
    subnet's sampler (inference.sampler), which draws its noise from ``seed`` (0 to MAX_SEED;
    a random seed when None) and each token's position: a seed gives the same tokens alone
    or in any batch, on any device, and a verifier re-derives them from it. ``stop`` strings
    end generation when they appear in the text. ``top_logprobs`` asks for that many alternatives per token.
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
        return self.temperature < GREEDY_TEMPERATURE


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
    if req.seed is not None and not (
        isinstance(req.seed, int) and not isinstance(req.seed, bool) and 0 <= req.seed <= MAX_SEED
    ):
        raise InvalidRequest(f"seed must be an integer from 0 to {MAX_SEED}, got {req.seed!r}")
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
    """Thresholds of the verifier, measured with ``python -m inference.calibrate``.

    The measurement: 2,016 honest answers (20,910 tokens) of the tiny model to the validator's
    own tasks (greedy and sampled at temperatures 0.3-1.0, top_p 0.8-1.0, each with its own
    seed), from miners in float32, bfloat16 and float16, at batch sizes 1, 4 and 16, with 1 and
    2 threads, verified by a float32 verifier on a CPU. 99.8 % of honest tokens are exactly the
    verifier's sampler choice (bfloat16: 99.1-99.7 %, float16: 99.9 %, float32: 100 %); the
    rest are near-ties. The worst figures (all bfloat16), and the margin each default leaves:

    =========================================  =======  =======  ======
    figure (worst honest)                      measured default  margin
    =========================================  =======  =======  ======
    sampler score gap of a token (nats)        0.149    0.4      2.7x
    spread of logprob noise over the top 20    0.289    0.4      1.4x
    nucleus slack needed (nats)                0.023    0.15     6.4x
    max abs logprob diff (nats)                0.138    0.5      3.6x
    max |sum|/sqrt(n) of logprob diffs         0.073    0.25     3.4x
    =========================================  =======  =======  ======

    The spread bounds every gap the same noise could make (a gap needs a near-tie, so few are
    realised), so ``sampler_margin`` sits above the spread, not only above the gaps seen.
    float32 miners at other batch sizes and thread counts differ from the verifier by at most
    1e-5 nats. A miner who sits exactly on the margin can raise one token's chance by at most
    a factor e^(margin / temperature) at a position where it is not the sampler's choice
    (1.8x at temperature 0.7); README, "What verification proves", gives what that buys.
    """

    # A claimed logprob may differ from the verifier's by this much (nats) at any token.
    logprob_tolerance: float = 0.5
    # |sum of (claimed - verifier)| / sqrt(tokens) may not exceed this: honest noise
    # averages out, a systematic inflation does not (inference.judge.bias_statistic).
    bias_tolerance: float = 0.25
    # A token's sampler score may be this far (nats of logits) below the sampler's choice:
    # the numerical near-ties between the verifier's logits and an honest miner's.
    sampler_margin: float = 0.4
    # With top_p < 1: a token is inside the nucleus if it would be with every logit moved by
    # up to this much (nats), and the choice it must match is among the tokens kept under
    # every such move (inference.sampler.sampler_evidence).
    nucleus_slack: float = 0.15
    # Near-ties (tokens that are not exactly the sampler's choice, inside the margin or not)
    # above this share of a miner's last ``near_tie_window`` tokens mark it as sampling some
    # other way (neurons/near_ties.py). Honest miners measured at most 0.86 % (bfloat16, batch
    # 16, 2 threads; float16 0.09 %, float32 0); over 4,096 tokens 1.5 % is 4.4 standard
    # deviations above that. Cheats measured (tests/inference/test_detection_matrix.py, mean
    # of five draws): dynamic int8 2.8 %, weights with 1e-2 noise 1.9 %, top_p ignored 1.5 %,
    # greedy for sampled 15.2 %.
    near_tie_share: float = 0.015
    near_tie_window: int = 4096
    # Verify at most this many tokens (prompt + completion, padded) per forward pass.
    max_batch_tokens: int = 16384
    # The fixed cost of one forward pass, counted in padded tokens: verify_many groups
    # completions of similar length into passes so that padding plus this cost per pass is
    # least. Larger on a GPU (fewer, wider passes), smaller on a CPU.
    pass_overhead_tokens: int = 256

    def __post_init__(self) -> None:
        for name in ("logprob_tolerance", "bias_tolerance"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.near_tie_share <= 1:
            raise ValueError(f"near_tie_share must be in (0, 1], got {self.near_tie_share}")
        if self.near_tie_window < 1:
            raise ValueError(f"near_tie_window must be at least 1, got {self.near_tie_window}")
        for name in ("sampler_margin", "nucleus_slack"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
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
    not_greedy, not_sampled, outside_nucleus, false_eos, skipped_eos, eos_inside, false_stop,
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
    ``mean_logprob_diff`` the signed mean of claimed - verifier. ``near_ties`` counts the
    tokens that are not exactly the sampler's choice on the verifier's logits, whether inside
    the margin or not: honest miners in other precisions have a few (inference.calibrate's
    ``exact_share``), a miner that samples otherwise has many, so validators watch their share
    over many answers (neurons/near_ties.py). A malformed completion (``Verdict.malformed``)
    has no ranks or logprobs, and NaN differences: nothing was compared.
    """

    reasons: tuple[Finding, ...]
    ranks: tuple[int, ...]
    logprobs: tuple[float, ...]
    max_logprob_diff: float
    mean_logprob_diff: float
    prompt_tokens: int
    near_ties: int = 0

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
