"""The verifier's rules on hand-made evidence: no model involved."""

from __future__ import annotations

import pytest

from inference.judge import Evidence, bias_statistic, judge
from inference.types import GenerationRequest, Usage, VerifyConfig, VerifyItem

EOS = 9
CONFIG = VerifyConfig()


def _decode(ids) -> str:
    return "".join(chr(ord("a") + i) for i in ids if i != EOS)


def _verdict(tokens, *, best_ids=None, gaps=None, finish="stop", **request_fields):
    request = GenerationRequest(prompt="p", **{"max_tokens": 8, **request_fields})
    n = len(tokens)
    gaps = gaps or [0.0] * n
    evidence = Evidence(
        logprobs=[-0.1 - g for g in gaps],
        ranks=[1 if g == 0 else 2 for g in gaps],
        best_logprobs=[-0.1] * n,
        best_ids=best_ids or list(tokens),
        nucleus_mass=[0.0] * n,
        eos_probs=[0.0] * n,
    )
    item = VerifyItem(request, tokens, [-0.1 - g for g in gaps], finish, Usage.of(3, n))
    return judge(item, [0, 1, 2], evidence, CONFIG, frozenset({EOS}), _decode)


def test_a_greedy_gap_at_the_threshold_passes_and_above_fails():
    at = _verdict([1, 2, EOS], gaps=[0.0, CONFIG.greedy_max_gap, 0.0])
    above = _verdict([1, 2, EOS], gaps=[0.0, CONFIG.greedy_max_gap + 0.01, 0.0])
    assert at.ok
    assert above.codes == {"not_greedy"}


def test_a_miss_where_the_model_wanted_to_stop_is_named_skipped_eos():
    verdict = _verdict(
        [1, 2, 3], best_ids=[1, EOS, 3], gaps=[0, 5.0, 0], finish="length", max_tokens=3
    )
    assert verdict.codes == {"skipped_eos"}


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
