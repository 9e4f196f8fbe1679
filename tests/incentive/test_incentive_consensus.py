"""Consensus (the chain's weighted median) and top-k permits."""

from __future__ import annotations

import incentive_reference as ref
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from incentive.consensus import (
    is_topk,
    is_topk_nonzero,
    partition_search,
    quantile_by_sorting,
    weighted_median_col,
)
from incentive.fixed import Exact, Float

FAST = settings(max_examples=80, deadline=None)
# Few distinct scores and stakes, so ties and zero stakes are common.
SCORES = st.integers(min_value=0, max_value=4).map(lambda k: k << 30)
STAKES = st.one_of(
    st.integers(min_value=0, max_value=3).map(lambda k: k << 29),
    st.integers(min_value=0, max_value=1 << 32),
)


@st.composite
def columns(draw):
    rows = draw(st.integers(min_value=1, max_value=9))
    cols = draw(st.integers(min_value=1, max_value=4))
    stake = draw(st.lists(STAKES, min_size=rows, max_size=rows))
    score = draw(
        st.lists(st.lists(SCORES, min_size=cols, max_size=cols), min_size=rows, max_size=rows)
    )
    total = sum(stake)
    minority = draw(
        st.one_of(
            st.sampled_from([total // 2, 0, -1, total, total - 1]),
            st.integers(min_value=-5, max_value=total + 5),
        )
    )
    return np.array(stake, dtype=np.int64), np.array(score, dtype=np.int64), minority


@FAST
@given(columns())
def test_vectorised_search_equals_the_recursive_chain_search(case):
    stake, score, minority = case
    total = int(stake.sum())
    got = partition_search(stake, score, minority, 0, total, exact=True)
    for j in range(score.shape[1]):
        col = score[:, j].tolist()
        want = ref.weighted_median(stake.tolist(), col, list(range(len(col))), minority, 0, total)
        assert got[j] == want


@FAST
@given(columns())
def test_sorting_form_equals_the_search_on_whole_columns(case):
    stake, score, minority = case
    total = int(stake.sum())
    searched = partition_search(stake, score, minority, 0, total, exact=True)
    assert quantile_by_sorting(stake, score, minority, exact=True).tolist() == searched.tolist()


def test_search_with_partial_bounds_follows_the_chain():
    stake = [1 << 30, 0, 1 << 31, 1 << 30]
    score = [3 << 29, 1 << 29, 2 << 29, 3 << 29]
    got = partition_search(np.array(stake), np.array([score]).T, 1 << 30, 0, 1 << 32, True)
    assert got[0] == ref.weighted_median(stake, score, [0, 1, 2, 3], 1 << 30, 0, 1 << 32)


def test_consensus_is_the_weight_that_kappa_of_stake_meets():
    # stakes 0.6 / 0.4: the 0.6 majority gives 0.2, the minority 0.9 -> consensus 0.2
    stake = Exact.from_float([0.6, 0.4])
    weights = Exact.from_float([[0.2], [0.9]])
    kappa = Exact.ratio(32_767, 65_535)
    assert weighted_median_col(Exact, stake, weights, kappa).tolist() == [weights[0, 0]]


def test_consensus_ignores_rows_without_stake():
    stake = np.array([0.0, 1.0])
    weights = np.array([[1.0], [0.25]])
    assert weighted_median_col(Float, stake, weights, 0.5).tolist() == [0.25]


def test_consensus_without_any_stake_is_zero():
    assert weighted_median_col(Float, np.zeros(2), np.ones((2, 3)), 0.5).tolist() == [0, 0, 0]


def test_topk_ties_go_to_the_higher_uid():
    assert is_topk(np.array([5, 5, 5, 1]), 2).tolist() == [False, True, True, False]


def test_topk_keeps_everyone_when_k_exceeds_n():
    assert is_topk(np.array([3, 1]), 5).tolist() == [True, True]


def test_topk_nonzero_never_permits_zero_stake():
    assert is_topk_nonzero(np.array([0, 2, 0]), 3).tolist() == [False, True, False]
