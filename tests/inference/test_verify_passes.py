"""How verify_many groups completions into forward passes: by length, least padding."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from inference.types import VerifyItem
from inference.verify import least_cost_runs


@given(st.lists(st.integers(1, 600), max_size=60), st.integers(0, 2000), st.integers(1, 5000))
def test_runs_cover_every_width_once_in_order_within_the_token_limit(widths, overhead, cap):
    widths = sorted(widths)
    runs = least_cost_runs(widths, overhead, cap)
    assert [i for run in runs for i in run] == list(range(len(widths)))
    for run in runs:
        assert len(run) == 1 or len(run) * widths[run[-1]] <= cap


def test_short_and_long_completions_go_in_separate_passes():
    runs = least_cost_runs([10, 10, 12, 500, 510], overhead=100, max_tokens=10_000)
    assert runs == [range(0, 3), range(3, 5)]


def test_a_large_pass_overhead_keeps_everything_in_one_pass():
    assert least_cost_runs([10, 20, 400], overhead=10_000, max_tokens=10_000) == [range(0, 3)]


def test_the_token_limit_splits_a_pass_of_equal_widths():
    runs = least_cost_runs([100] * 10, overhead=1_000, max_tokens=300)
    assert len(runs) == 4 and max(len(run) for run in runs) == 3


def test_verdicts_come_back_in_the_order_of_the_items(verifier, honest_runs):
    runs = honest_runs
    # PROMPTS mixes long and short prompts: sorting by length reorders these items.
    items = [VerifyItem.of(runs["greedy"][i], runs["greedy_alone"][i]) for i in (2, 1, 5, 3)]
    verdicts = verifier.verify_many(items)
    assert [len(v.ranks) for v in verdicts] == [len(item.token_ids) for item in items]
    assert [v.prompt_tokens for v in verdicts] == [len(item.prompt_token_ids) for item in items]
