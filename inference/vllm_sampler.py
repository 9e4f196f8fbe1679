"""The subnet's sampler inside a vLLM server, as a logits processor.

    vllm serve MODEL --logits-processors inference.vllm_sampler:SubnetSampler \\
        --logprobs-mode raw_logprobs

(the project must be importable by the server's Python: ``pip install -e .`` of this
repository into vLLM's environment). For every request that carries a ``seed``, the processor
computes the token inference.sampler chooses at that position (from the request's
temperature, top_p and seed, and the number of tokens generated so far) and leaves that token
the only one with a finite logit, so whatever vLLM's own sampler does next (temperature,
top-k, top-p, its random generator) yields exactly that token. Requests without a seed are
left alone: the miner always sends one. vLLM computes ``raw_logprobs`` before logits
processors run, so the logprobs it returns stay the model's own (what verification checks).

The class follows vLLM's logits-processor interface of ``vllm.v1.sample.logits_processor``
(``validate_params``, ``__init__(vllm_config, device, is_pin_memory)``, ``is_argmax_invariant``,
``update_state(batch_update)``, ``apply(logits)``), which vLLM documents as still subject to
change; it is built when vLLM asks for it (a module ``__getattr__``), so this module imports
without vLLM. The bookkeeping lives in ``SamplerRows``, plain torch, which the tests drive
through a stand-in of that interface. vLLM refuses custom logits processors together with
speculative decoding. The miner checks at start-up that its backend's answers follow the
sampler (inference.sampler_probe) and refuses to serve if they do not.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from inference.sampler import choose
from inference.types import MAX_SEED

# vLLM's MoveDirectionality member for a two-way swap (the other is a one-way move).
SWAP = "SWAP"


@dataclass
class _Row:
    temperature: float
    top_p: float
    seed: int
    output_ids: list[int]  # vLLM's running list of the request's output tokens (a reference)


def check_seed(seed: int | None) -> None:
    """ValueError for a seed the subnet's sampler does not take (None: no seed, allowed)."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED} for the subnet's sampler")


class SamplerRows:
    """Which batch row holds which seeded request, and the one-hot logits of their tokens."""

    def __init__(self) -> None:
        self.rows: dict[int, _Row] = {}

    def update(self, batch_update) -> None:
        """Follow vLLM's batch: removed, then added, then moved rows, in that order."""
        if batch_update is None:
            return
        for index in batch_update.removed:
            self.rows.pop(index, None)
        for index, params, _prompt_ids, output_ids in batch_update.added:
            if params.seed is None:
                self.rows.pop(index, None)  # an added request replaces whatever was there
            else:
                self.rows[index] = _Row(params.temperature, params.top_p, params.seed, output_ids)
        for first, second, direction in batch_update.moved:
            a, b = self.rows.pop(first, None), self.rows.pop(second, None)
            if a is not None:
                self.rows[second] = a
            if b is not None and getattr(direction, "name", direction) == SWAP:
                self.rows[first] = b

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Every seeded row becomes -inf but for the sampler's token (0 there), in place."""
        if not self.rows:
            return logits
        indices = sorted(self.rows)
        rows = [self.rows[i] for i in indices]
        picks = choose(
            logits[indices],
            [r.temperature for r in rows],
            [r.top_p for r in rows],
            [r.seed for r in rows],
            [len(r.output_ids) for r in rows],
        )
        index = torch.tensor(indices, device=logits.device)
        one_hot = torch.full(
            (len(indices), logits.shape[-1]), float("-inf"), device=logits.device
        ).to(logits.dtype)
        one_hot[torch.arange(len(indices)), torch.tensor(picks)] = 0.0
        logits[index] = one_hot
        return logits


def build_processor_class(base: type) -> type:
    """The logits-processor class over vLLM's ``LogitsProcessor`` base (or a stand-in)."""

    class SubnetSampler(base):
        """Makes a vLLM server sample with the subnet's sampler (see inference.vllm_sampler)."""

        @classmethod
        def validate_params(cls, sampling_params) -> None:
            check_seed(sampling_params.seed)

        def __init__(self, vllm_config, device, is_pin_memory: bool) -> None:
            self.sampler_rows = SamplerRows()

        def is_argmax_invariant(self) -> bool:
            return False  # it decides the token, greedy requests included

        def update_state(self, batch_update) -> None:
            self.sampler_rows.update(batch_update)

        def apply(self, logits: torch.Tensor) -> torch.Tensor:
            return self.sampler_rows.apply(logits)

    return SubnetSampler


@functools.cache
def _vllm_class() -> type:
    from vllm.v1.sample.logits_processor import LogitsProcessor

    return build_processor_class(LogitsProcessor)


_LAZY: dict[str, Callable[[], type]] = {"SubnetSampler": _vllm_class}


def __getattr__(name: str):
    if name in _LAZY:
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
