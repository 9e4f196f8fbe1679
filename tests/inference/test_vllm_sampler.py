"""The vLLM logits processor, driven through a minimal stand-in of vLLM's interface
(``vllm.v1.sample.logits_processor``: LogitsProcessor, BatchUpdate, MoveDirectionality) the way
vLLM's engine drives it: batch updates before each step, then ``apply`` on the step's logits,
then vLLM's own sampling of what is left. No vLLM is installed here."""

from __future__ import annotations

import abc
import asyncio
import enum
import sys
import types
from dataclasses import dataclass, field

import pytest
import torch
from inference_cases import request_for

from inference.engine import Engine
from inference.prompts import prepare
from inference.sampler import MAX_SEED, choose
from inference.types import VerifyItem
from inference.vllm_sampler import SamplerRows, build_processor_class


class LogitsProcessor(abc.ABC):
    """The stand-in of vLLM's base class: the methods vLLM calls."""

    @classmethod
    def validate_params(cls, sampling_params) -> None:
        return None

    @abc.abstractmethod
    def __init__(self, vllm_config, device, is_pin_memory: bool) -> None: ...

    @abc.abstractmethod
    def apply(self, logits: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def is_argmax_invariant(self) -> bool: ...

    @abc.abstractmethod
    def update_state(self, batch_update) -> None: ...


class MoveDirectionality(enum.Enum):
    UNIDIRECTIONAL = enum.auto()
    SWAP = enum.auto()


@dataclass(frozen=True)
class BatchUpdate:
    batch_size: int
    removed: list = field(default_factory=list)
    added: list = field(default_factory=list)
    moved: list = field(default_factory=list)


@dataclass
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None


SubnetSampler = build_processor_class(LogitsProcessor)


def _processor():
    return SubnetSampler(None, torch.device("cpu"), False)


def _added(index, outputs, **params):
    return (index, SamplingParams(**params), [1, 2, 3], outputs)


def test_a_seeded_row_keeps_only_the_sampler_s_token():
    processor, outputs = _processor(), []
    processor.update_state(BatchUpdate(1, added=[_added(0, outputs, temperature=0.8, seed=5)]))
    logits = torch.randn(1, 300, generator=torch.Generator().manual_seed(1))
    expected = choose(logits, [0.8], [1.0], [5], [0])[0]
    out = processor.apply(logits.clone())
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == [expected]


def test_the_position_follows_the_request_s_running_output_list():
    processor, outputs = _processor(), []
    processor.update_state(BatchUpdate(1, added=[_added(0, outputs, temperature=1.0, seed=9)]))
    logits = torch.zeros(1, 1000)  # uniform: the noise at each position decides
    picks = []
    for position in range(5):
        picks.append(int(processor.apply(logits.clone())[0].argmax()))
        assert picks[-1] == choose(logits, [1.0], [1.0], [9], [position])[0]
        outputs.append(picks[-1])  # vLLM appends to the list the processor holds
        processor.update_state(None)
    assert len(set(picks)) > 1


def test_rows_without_a_seed_are_left_alone():
    processor = _processor()
    processor.update_state(BatchUpdate(2, added=[_added(0, [], seed=None), _added(1, [], seed=3)]))
    logits = torch.randn(2, 50)
    out = processor.apply(logits.clone())
    assert torch.equal(out[0], logits[0])
    assert torch.isfinite(out[1]).sum() == 1


def test_removed_moved_and_swapped_rows_follow_their_requests():
    processor = _processor()
    a, b = [], []
    processor.update_state(
        BatchUpdate(2, added=[_added(0, a, temperature=0.9, seed=1), _added(1, b, seed=2)])
    )
    processor.update_state(BatchUpdate(2, moved=[(0, 1, MoveDirectionality.SWAP)]))
    rows = processor.sampler_rows.rows
    assert rows[0].seed == 2 and rows[1].seed == 1
    processor.update_state(BatchUpdate(1, removed=[0]))
    processor.update_state(BatchUpdate(1, moved=[(1, 0, MoveDirectionality.UNIDIRECTIONAL)]))
    assert list(processor.sampler_rows.rows) == [0] and rows[0].seed == 1


def test_a_request_added_over_a_seeded_row_without_a_seed_clears_it():
    rows = SamplerRows()
    rows.update(BatchUpdate(1, added=[_added(0, [], seed=4)]))
    rows.update(BatchUpdate(1, added=[_added(0, [], seed=None)]))
    assert rows.rows == {}


def test_it_decides_greedy_tokens_too_and_refuses_seeds_out_of_range():
    assert _processor().is_argmax_invariant() is False
    SubnetSampler.validate_params(SamplingParams(seed=MAX_SEED))
    with pytest.raises(ValueError, match="seed"):
        SubnetSampler.validate_params(SamplingParams(seed=MAX_SEED + 1))


def test_vllm_loads_the_class_from_its_own_base_through_the_module(monkeypatch):
    """``--logits-processors inference.vllm_sampler:SubnetSampler``: vLLM imports the module,
    takes the attribute and checks it subclasses its LogitsProcessor."""
    module = types.ModuleType("vllm.v1.sample.logits_processor")
    module.LogitsProcessor = LogitsProcessor
    for name in ("vllm", "vllm.v1", "vllm.v1.sample"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "vllm.v1.sample.logits_processor", module)
    import inference.vllm_sampler as vllm_sampler

    vllm_sampler._vllm_class.cache_clear()
    try:
        loaded = vllm_sampler.SubnetSampler
        assert issubclass(loaded, LogitsProcessor)
    finally:
        vllm_sampler._vllm_class.cache_clear()


def _vllm_like_generation(loaded, request, steps: int) -> list[int]:
    """A vLLM-shaped decode loop: the processor runs on every step's logits, then vLLM's own
    sampler (temperature, top-p, its own random generator) picks from what is left."""
    processor, outputs = _processor(), []
    params = SamplingParams(request.temperature, request.top_p, request.seed)
    processor.update_state(BatchUpdate(1, added=[(0, params, None, outputs)]))
    ids = prepare(loaded.tokenizer, request, _limits(loaded))
    own_generator = torch.Generator().manual_seed(12345)
    for _ in range(steps):
        with torch.no_grad():
            logits = loaded.model(input_ids=torch.tensor([ids + outputs])).logits[:, -1].float()
        logits = processor.apply(logits)
        probs = torch.softmax(logits / max(request.temperature, 1e-5), dim=-1)
        token = int(torch.multinomial(probs[0], 1, generator=own_generator))
        outputs.append(token)
        processor.update_state(None)
        if token in loaded.eos_token_ids:
            break
    return outputs


def _limits(loaded):
    from inference.prompts import Limits

    return Limits(loaded.context_length, loaded.context_length)


@pytest.mark.parametrize(("temperature", "top_p"), [(0.8, 0.9), (1.0, 1.0), (0.0, 1.0)])
def test_a_vllm_loop_with_the_processor_writes_the_engine_s_tokens(
    honest_model, verifier, temperature, top_p
):
    request = request_for(2, max_tokens=24, temperature=temperature, top_p=top_p, seed=77)

    async def engine_answer():
        async with Engine(honest_model) as engine:
            return await engine.generate(request)

    completion = asyncio.run(engine_answer())
    tokens = _vllm_like_generation(honest_model, request, len(completion.token_ids))
    assert tokens == list(completion.token_ids)
    assert verifier.verify_many([VerifyItem.of(request, completion)])[0].ok
