"""What a miner checks about its external backend (vLLM, SGLang) before it serves anyone.

    await check_backend(backend)     # raises BackendCheckFailed naming the cause and the fix

One function per check, run in order (each one's failure makes the later ones moot):

- `check_reachable`: the server answers `GET /models`, with this miner's API key;
- `check_serves_model`: it serves the model under the name requests will use
  (`--model.served_name`, by default `--model`);
- `check_token_ids`: a completion comes back with its token ids and one logprob per token
  (vLLM's `return_token_ids` / `return_tokens_as_token_ids`), which verification needs;
- `check_raw_logprobs`: logprobs are the model's raw distribution, not the one after
  temperature (vLLM's default `--logprobs-mode raw_logprobs`, not `processed_logprobs`);
- `check_follows_sampler`: sampled answers are the subnet's sampler's choices for their seeds
  (inference.sampler_probe; vLLM with `--logits-processors
  inference.vllm_sampler:SubnetSampler`).

A check that fails raises `BackendCheckFailed`, whose message says what failed and which flag
or server option fixes it. `BACKEND_CHECKS` is the list `check_backend` runs; a check is an
async function of the backend.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from inference.openai_backend import BackendError, BackendUnauthorized, OpenAIBackend
from inference.sampler_probe import probe_backend
from inference.types import Completion, GenerationRequest, InvalidRequest

# The probes: one short text completion, greedy and then at PROBE_TEMPERATURE.
PROBE_PROMPT = "The"
PROBE_TOKENS = 2
PROBE_ALTERNATIVES = 5
PROBE_TEMPERATURE = 0.5
# Temperature T multiplies every gap between two tokens' logprobs by 1/T in the distribution
# it samples from, and leaves the raw distribution alone. So the gap between the first and
# the last alternative at the first position, at T = 0.5 over the same gap when greedy, is 1
# for raw logprobs and 1/T = 2 for processed ones. Measured against a server in both modes
# (tests/inference/fake_openai_server.py over the tiny model): 1.000 and 2.000. The limit is
# halfway, far from both.
RAW_GAP_RATIO_LIMIT = 1.5
# Gaps below this (nats) cannot tell the two modes apart: the probe's alternatives are tied.
MIN_PROBE_GAP = 1e-3


class BackendCheckFailed(RuntimeError):
    """The backend cannot serve this subnet; the message says why and what to change."""


Check = Callable[[OpenAIBackend], Awaitable[None]]


async def check_reachable(backend: OpenAIBackend) -> None:
    try:
        await backend.served_models()
    except BackendUnauthorized as exc:
        raise BackendCheckFailed(
            f"the backend refused this miner: {exc}; give the key it expects with "
            "--model.backend_api_key (or SUBNET_MODEL_BACKEND_API_KEY)"
        ) from None
    except BackendError as exc:
        raise BackendCheckFailed(
            f"the backend at {backend.base_url} is not answering: {exc}; start it (for "
            "example `vllm serve MODEL`) or fix --model.backend_url"
        ) from None


async def check_serves_model(backend: OpenAIBackend) -> None:
    served = await backend.served_models()
    if backend.model in served:
        return
    names = ", ".join(repr(name) for name in served) or "no model"
    raise BackendCheckFailed(
        f"the backend at {backend.base_url} serves {names}, not {backend.model!r}: pass the "
        "name it serves with --model.served_name (vLLM: its --served-model-name)"
    )


async def _probe(backend: OpenAIBackend, temperature: float) -> Completion:
    request = GenerationRequest(
        prompt=PROBE_PROMPT,
        max_tokens=PROBE_TOKENS,
        temperature=temperature,
        seed=0,
        top_logprobs=PROBE_ALTERNATIVES,
    )
    try:
        return await backend.generate(request)
    except (BackendError, InvalidRequest) as exc:
        raise BackendCheckFailed(
            f"a {PROBE_TOKENS}-token test completion through {backend.base_url} failed: {exc}"
        ) from None


async def check_token_ids(backend: OpenAIBackend) -> None:
    completion = await _probe(backend, 0.0)
    if not completion.token_ids or len(completion.logprobs) != len(completion.token_ids):
        raise BackendCheckFailed(
            f"the backend at {backend.base_url} returned {len(completion.token_ids)} token ids "
            f"and {len(completion.logprobs)} logprobs for a completion: it must return both "
            "(vLLM does)"
        )


def _first_gap(completion: Completion) -> float | None:
    """Logprob of the first alternative minus the last's, at the first position."""
    if not completion.top_logprobs or len(completion.top_logprobs[0]) < 2:
        return None
    alternatives = sorted(completion.top_logprobs[0], key=lambda t: -t.logprob)
    return alternatives[0].logprob - alternatives[-1].logprob


async def check_raw_logprobs(backend: OpenAIBackend) -> None:
    greedy_gap = _first_gap(await _probe(backend, 0.0))
    hot_gap = _first_gap(await _probe(backend, PROBE_TEMPERATURE))
    if greedy_gap is None or hot_gap is None:
        raise BackendCheckFailed(
            f"the backend at {backend.base_url} returned no alternatives (top logprobs): "
            "verification compares logprobs, so the server must return them"
        )
    if greedy_gap < MIN_PROBE_GAP:
        return  # tied alternatives: the probe cannot tell the modes apart
    if hot_gap / greedy_gap > RAW_GAP_RATIO_LIMIT:
        raise BackendCheckFailed(
            f"the backend at {backend.base_url} returns logprobs after temperature (a gap of "
            f"{greedy_gap:.3f} greedy became {hot_gap:.3f} at temperature "
            f"{PROBE_TEMPERATURE:g}): verification needs the raw distribution; start vLLM with "
            "--logprobs-mode raw_logprobs (its default)"
        )


async def check_follows_sampler(backend: OpenAIBackend) -> None:
    try:
        report = await probe_backend(backend)
    except (BackendError, InvalidRequest) as exc:
        raise BackendCheckFailed(
            f"a sampled test completion through {backend.base_url} failed: {exc}"
        ) from None
    if not report.follows:
        raise BackendCheckFailed(f"the backend at {backend.base_url}: {report.message}")


BACKEND_CHECKS: tuple[Check, ...] = (
    check_reachable,
    check_serves_model,
    check_token_ids,
    check_raw_logprobs,
    check_follows_sampler,
)


async def check_backend(backend: OpenAIBackend, checks: Sequence[Check] = BACKEND_CHECKS) -> None:
    """Run every check in order; the first that fails raises `BackendCheckFailed`."""
    for check in checks:
        await check(backend)
