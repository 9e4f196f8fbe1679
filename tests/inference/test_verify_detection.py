"""Cheats the verifier must catch, one per test."""

from __future__ import annotations

import dataclasses
import math

import pytest
from inference_cases import request_for

from inference.types import Usage, VerifyItem

EOS = 257  # the tiny tokenizer's end-of-sequence id (checked in test_tiny_model.py)


def _claim(request, completion, **changes) -> VerifyItem:
    """What a miner hands in: the honest completion with some fields changed."""
    return dataclasses.replace(VerifyItem.of(request, completion), **changes)


def _length_claim(request, completion, tokens, logprobs) -> VerifyItem:
    """A claim that generation ran to max_tokens with these tokens, its usage counted true."""
    return _claim(
        request,
        completion,
        token_ids=tokens,
        logprobs=logprobs,
        finish_reason="length",
        usage=Usage.of(completion.usage.prompt_tokens, len(tokens)),
    )


def _eos_left_out(request, completion, beyond, at: int) -> VerifyItem:
    """The run past end-of-sequence (``beyond``) claimed with its token at ``at`` left out."""
    tokens = [*beyond.token_ids[:at], *beyond.token_ids[at + 1 :]]
    logprobs = [*beyond.logprobs[:at], *beyond.logprobs[at + 1 :]]
    return _length_claim(request, completion, tokens, logprobs)


def _confident_position(completion, start: int, min_prob: float) -> int:
    """First position >= start where the chosen token had at least min_prob and is not EOS."""
    return next(
        i
        for i in range(start, len(completion.token_ids))
        if completion.logprobs[i] > math.log(min_prob) and completion.token_ids[i] != EOS
    )


@pytest.fixture
async def long_greedy(engine):
    request = request_for(0, max_tokens=128, ignore_eos=True, top_logprobs=2)
    completion = await engine.generate(request)
    assert len(completion.token_ids) == 128
    return request, completion


@pytest.fixture
async def natural_end(engine):
    """A greedy completion that ends on end-of-sequence, and the same request run past it."""
    request = request_for(0, max_tokens=128)
    completion = await engine.generate(request)
    assert completion.finish_reason == "stop"
    beyond = await engine.generate(request_for(0, max_tokens=129, ignore_eos=True))
    return request, completion, beyond


async def test_one_token_swapped_for_the_runner_up_in_a_128_token_completion(verifier, long_greedy):
    request, completion = long_greedy
    at = _confident_position(completion, 64, min_prob=0.95)
    runner_up = completion.top_logprobs[at][1]
    tokens, logprobs = list(completion.token_ids), list(completion.logprobs)
    tokens[at], logprobs[at] = runner_up.token_id, runner_up.logprob  # even its true logprob
    verdict = verifier.verify_many(
        [_claim(request, completion, token_ids=tokens, logprobs=logprobs)]
    )[0]
    assert not verdict.ok
    assert ("not_greedy", at) in {(f.code, f.position) for f in verdict.reasons}


async def test_one_unlikely_token_in_a_sampled_completion(verifier, engine):
    request = request_for(0, max_tokens=128, ignore_eos=True, temperature=0.8, top_p=0.9, seed=1)
    completion = await engine.generate(dataclasses.replace(request, top_logprobs=5))
    at = _confident_position(completion, 64, min_prob=0.999)
    tokens = list(completion.token_ids)
    tokens[at] = completion.top_logprobs[at][4].token_id  # the fifth most likely token
    verdict = verifier.verify_many([_claim(request, completion, token_ids=tokens)])[0]
    assert ("outside_nucleus", at) in {(f.code, f.position) for f in verdict.reasons}


@pytest.mark.parametrize("temperature", [0.0, 0.9])
async def test_completions_of_a_model_built_with_another_seed_fail(
    verifier, cheater_engine, temperature
):
    requests = [request_for(i, temperature=temperature, seed=i, top_p=0.9) for i in range(6)]
    completions = [await cheater_engine.generate(r) for r in requests]
    verdicts = verifier.verify_many(
        [VerifyItem.of(r, c) for r, c in zip(requests, completions, strict=True)]
    )
    assert [v.ok for v in verdicts] == [False] * len(requests)


async def test_logprobs_inflated_by_half_a_nat_are_a_bias(verifier, long_greedy):
    request, completion = long_greedy
    inflated = [lp + 0.5 for lp in completion.logprobs]
    verdict = verifier.verify_many([_claim(request, completion, logprobs=inflated)])[0]
    assert "logprob_bias" in verdict.codes


async def test_claiming_certainty_for_every_token_fails(verifier, long_greedy):
    request, completion = long_greedy
    doubt = -sum(completion.logprobs) / math.sqrt(len(completion.logprobs))
    assert doubt > verifier.config.bias_tolerance  # the model was not certain throughout
    certain = [0.0] * len(completion.logprobs)
    verdict = verifier.verify_many([_claim(request, completion, logprobs=certain)])[0]
    assert "logprob_bias" in verdict.codes


async def test_a_logprob_copied_from_another_position_fails(verifier, engine):
    request = request_for(0, max_tokens=128, ignore_eos=True, temperature=2.0, seed=3)
    completion = await engine.generate(request)
    logprobs = list(completion.logprobs)
    surest = max(range(len(logprobs)), key=logprobs.__getitem__)
    doubtful = min(range(len(logprobs)), key=logprobs.__getitem__)
    assert logprobs[surest] - logprobs[doubtful] > verifier.config.logprob_tolerance
    logprobs[doubtful] = logprobs[surest]
    verdict = verifier.verify_many([_claim(request, completion, logprobs=logprobs)])[0]
    assert ("logprob_mismatch", doubtful) in {(f.code, f.position) for f in verdict.reasons}


async def test_a_completion_cut_short_with_a_false_end_of_sequence_fails(verifier, long_greedy):
    request, completion = long_greedy
    cut = 40
    tokens = [*completion.token_ids[:cut], EOS]
    logprobs = [*completion.logprobs[:cut], 0.0]
    claim = _claim(
        dataclasses.replace(request, ignore_eos=False),
        completion,
        token_ids=tokens,
        logprobs=logprobs,
        finish_reason="stop",
        usage=Usage.of(completion.usage.prompt_tokens, len(tokens)),
        top_logprobs=None,
    )
    verdict = verifier.verify_many([claim])[0]
    assert ("false_eos", cut) in {(f.code, f.position) for f in verdict.reasons}


@pytest.mark.parametrize(
    "finish_reason, code", [("stop", "false_stop"), ("length", "false_length")]
)
async def test_a_completion_cut_short_without_end_of_sequence_fails(
    verifier, long_greedy, finish_reason, code
):
    request, completion = long_greedy
    cut = 40
    claim = _claim(
        request,
        completion,
        token_ids=completion.token_ids[:cut],
        logprobs=completion.logprobs[:cut],
        finish_reason=finish_reason,
        usage=Usage.of(completion.usage.prompt_tokens, cut),
        top_logprobs=None,
    )
    assert code in verifier.verify_many([claim])[0].codes


async def test_running_past_a_confident_end_of_sequence_fails(verifier, natural_end):
    request, completion, beyond = natural_end
    at = len(completion.token_ids) - 1  # where the model said end-of-sequence
    assert beyond.token_ids[at] == EOS and completion.logprobs[at] > math.log(0.99)
    verdict = verifier.verify_many([_eos_left_out(request, completion, beyond, at)])[0]
    assert ("skipped_eos", at) in {(f.code, f.position) for f in verdict.reasons}


async def test_generating_on_after_an_end_of_sequence_fails(verifier, natural_end):
    request, completion, beyond = natural_end
    claim = _length_claim(request, completion, beyond.token_ids[:128], beyond.logprobs[:128])
    verdict = verifier.verify_many([claim])[0]
    assert ("eos_inside", len(completion.token_ids) - 1) in {
        (f.code, f.position) for f in verdict.reasons
    }


async def test_a_sampled_completion_that_skips_a_confident_end_of_sequence_fails(verifier, engine):
    request = request_for(2, max_tokens=120, temperature=0.8, top_p=0.95, seed=11)
    completion = await engine.generate(request)
    assert completion.finish_reason == "stop"
    beyond = await engine.generate(dataclasses.replace(request, max_tokens=121, ignore_eos=True))
    at = len(completion.token_ids) - 1
    verdict = verifier.verify_many([_eos_left_out(request, completion, beyond, at)])[0]
    assert ("skipped_eos", at) in {(f.code, f.position) for f in verdict.reasons}


USAGE_LIES = {
    "more prompt tokens": lambda u: Usage.of(u.prompt_tokens + 1, u.completion_tokens),
    "more completion tokens": lambda u: Usage.of(u.prompt_tokens, u.completion_tokens + 5),
    "a wrong total": lambda u: Usage(u.prompt_tokens, u.completion_tokens, u.total_tokens + 1),
}


@pytest.mark.parametrize("lie", USAGE_LIES, ids=list(USAGE_LIES))
def test_usage_counts_that_do_not_match_the_tokens_fail(verifier, honest_runs, lie):
    request, completion = honest_runs["greedy"][1], honest_runs["greedy_alone"][1]
    claim = _claim(request, completion, usage=USAGE_LIES[lie](completion.usage))
    assert verifier.verify_many([claim])[0].codes == {"usage_mismatch"}


def test_prompt_token_ids_other_than_the_verifiers_fail(verifier, honest_runs):
    request, completion = honest_runs["greedy"][0], honest_runs["greedy_alone"][0]
    prompt = [*completion.prompt_token_ids[:-1], completion.prompt_token_ids[-1] + 1]
    claim = _claim(request, completion, prompt_token_ids=prompt)
    assert verifier.verify_many([claim])[0].codes == {"prompt_mismatch"}


async def test_a_completion_that_runs_past_a_stop_string_fails(verifier, engine):
    free_request = request_for(0, max_tokens=40)
    free = await engine.generate(free_request)
    stop = free.text[3:5]
    request = dataclasses.replace(free_request, stop=(stop,))
    verdict = verifier.verify_many([_claim(request, free)])[0]
    assert "missed_stop" in verdict.codes


async def test_made_up_top_logprobs_fail(verifier, long_greedy):
    request, completion = long_greedy
    top = [list(entry) for entry in completion.top_logprobs]
    top[10][1] = top[10][1]._replace(logprob=top[10][0].logprob)  # runner-up as likely as best
    verdict = verifier.verify_many([_claim(request, completion, top_logprobs=top)])[0]
    assert "top_logprobs_mismatch" in verdict.codes
