"""The verifier's rules on hand-made evidence: no model involved."""

from __future__ import annotations

import pytest

from inference.judge import Evidence, bias_statistic, judge
from inference.types import GenerationRequest, Usage, VerifyConfig, VerifyItem

EOS = 9
CONFIG = VerifyConfig()


def _decode(ids) -> str:
    return "".join(chr(ord("a") + i) for i in ids if i != EOS)


def _verdict(tokens, *, choice_ids=None, gaps=None, possible=None, finish="stop", **request_fields):
    request = GenerationRequest(prompt="p", **{"max_tokens": 8, "seed": 1, **request_fields})
    n = len(tokens)
    gaps = gaps or [0.0] * n
    evidence = Evidence(
        logprobs=[-0.1 - g for g in gaps],
        ranks=[1 if g == 0 else 2 for g in gaps],
        choice_ids=choice_ids or list(tokens),
        gaps=gaps,
        possible=possible or [True] * n,
    )
    item = VerifyItem(request, tokens, [-0.1 - g for g in gaps], finish, Usage.of(3, n))
    return judge(item, [0, 1, 2], evidence, CONFIG, frozenset({EOS}), _decode)


@pytest.mark.parametrize(("temperature", "code"), [(0.0, "not_greedy"), (0.8, "not_sampled")])
def test_a_gap_at_the_margin_passes_and_above_it_fails(temperature, code):
    choice = [1, 4, EOS]
    at = _verdict([1, 2, EOS], choice_ids=choice, gaps=[0.0, CONFIG.sampler_margin, 0.0],
                  temperature=temperature)  # fmt: skip
    above = _verdict(
        [1, 2, EOS],
        choice_ids=choice,
        gaps=[0.0, CONFIG.sampler_margin + 0.01, 0.0],
        temperature=temperature,
    )
    assert at.ok
    assert {(f.code, f.position) for f in above.reasons} == {(code, 1)}


def test_a_token_no_nearby_nucleus_keeps_fails_even_with_no_gap():
    verdict = _verdict([1, 2, EOS], possible=[True, False, True], temperature=0.8, top_p=0.9)
    assert {(f.code, f.position) for f in verdict.reasons} == {("outside_nucleus", 1)}


def test_a_miss_where_the_sampler_stopped_is_named_skipped_eos():
    verdict = _verdict(
        [1, 2, 3], choice_ids=[1, EOS, 3], gaps=[0, 5.0, 0], finish="length", max_tokens=3
    )
    assert verdict.codes == {"skipped_eos"}


def test_a_stop_where_the_sampler_went_on_is_named_false_eos():
    verdict = _verdict([1, EOS], choice_ids=[1, 2], gaps=[0, 1.0], temperature=0.7)
    assert {(f.code, f.position) for f in verdict.reasons} == {("false_eos", 1)}


def test_finish_length_ending_on_end_of_sequence_is_false():
    assert _verdict([1, 2, EOS], finish="length", max_tokens=3).codes == {"false_length"}


def test_end_of_sequence_inside_is_allowed_when_the_request_ignores_it():
    assert _verdict([1, EOS, 2], finish="length", max_tokens=3, ignore_eos=True).ok
    assert _verdict([1, EOS, 2], finish="length", max_tokens=3).codes == {"eos_inside"}


def test_more_tokens_than_max_tokens_is_too_long():
    assert "too_long" in _verdict([1, 2, 3, EOS], max_tokens=3).codes


def test_a_stop_string_completed_by_the_last_token_justifies_stop():
    # tokens 1, 2, 3 decode to "bcd"
    assert _verdict([1, 2, 3], stop=("cd",)).ok
    assert _verdict([1, 2, 3], stop=("bc",)).codes == {"missed_stop", "false_stop"}


@pytest.mark.parametrize("n", [1, 16, 256])
def test_the_bias_statistic_grows_with_the_root_of_the_length_for_a_fixed_shift(n):
    assert bias_statistic([0.5] * n) == pytest.approx(0.5 * n**0.5)
