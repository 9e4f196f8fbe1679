"""No false alarms: honest completions pass, however they were batched or sampled."""

from __future__ import annotations

import asyncio

from inference_cases import request_for

from inference.engine import Engine
from inference.loading import load_model
from inference.types import VerifyItem


def _failures(verifier, requests, completions):
    items = [VerifyItem.of(r, c) for r, c in zip(requests, completions, strict=True)]
    return [(i, v.reasons) for i, v in enumerate(verifier.verify_many(items)) if not v.ok]


def test_greedy_completions_made_alone_pass(verifier, honest_runs):
    assert _failures(verifier, honest_runs["greedy"], honest_runs["greedy_alone"]) == []


def test_greedy_completions_made_in_batches_of_every_size_pass(verifier, honest_runs):
    for size, batch in honest_runs["greedy_batched"].items():
        assert _failures(verifier, honest_runs["greedy"][:size], batch) == [], size


def test_seeded_samples_made_alone_and_batched_pass(verifier, honest_runs):
    sampled = honest_runs["sampled"]
    assert _failures(verifier, sampled, honest_runs["sampled_alone"]) == []
    assert _failures(verifier, sampled, honest_runs["sampled_batched"]) == []


def test_verifying_in_one_batch_gives_the_verdicts_of_one_at_a_time(verifier, honest_runs):
    requests, completions = honest_runs["sampled"][:6], honest_runs["sampled_alone"][:6]
    together = verifier.verify_many(
        [VerifyItem.of(r, c) for r, c in zip(requests, completions, strict=True)]
    )
    for request, completion, verdict in zip(requests, completions, together, strict=True):
        alone = verifier.verify_completion(request, completion)
        assert alone.ranks == verdict.ranks
        assert max(abs(a - b) for a, b in zip(alone.logprobs, verdict.logprobs, strict=True)) < 1e-4


def test_a_verdict_reports_ranks_and_the_largest_logprob_difference(verifier, honest_runs):
    verdict = verifier.verify_completion(honest_runs["greedy"][0], honest_runs["greedy_alone"][0])
    assert verdict.ok
    assert set(verdict.ranks) == {1}
    assert len(verdict.logprobs) == len(honest_runs["greedy_alone"][0].token_ids)
    assert 0 <= verdict.max_logprob_diff < 1e-4


async def test_stop_strings_top_logprobs_and_ignore_eos_completions_pass(verifier, engine):
    free = await engine.generate(request_for(0, max_tokens=40))
    requests = [
        request_for(0, max_tokens=40, stop=(free.text[3:5],)),
        request_for(1, top_logprobs=5),
        request_for(2, max_tokens=80, ignore_eos=True),
        request_for(3, temperature=0.9, top_p=0.8, seed=5, stop=("e",), top_logprobs=2),
    ]
    completions = [await engine.generate(r) for r in requests]
    assert completions[0].finish_reason == "stop"
    assert _failures(verifier, requests, completions) == []


def test_a_bfloat16_miner_passes_a_float32_verifier(verifier, honest_dir):
    # Stands in for the numerical noise of other GPUs and kernels.
    miner = load_model(honest_dir, dtype="bfloat16")
    requests = [request_for(i, max_tokens=32) for i in range(4)] + [
        request_for(i, max_tokens=32, temperature=0.8, top_p=0.9, seed=i) for i in range(4)
    ]

    async def run():
        async with Engine(miner) as engine:
            return await asyncio.gather(*(engine.generate(r) for r in requests))

    assert _failures(verifier, requests, asyncio.run(run())) == []
