"""Scores to submitted weights, and the chain's own weight checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incentive.weights import check_weights, conform_weights, max_upscale_u16, max_weight_exceeded

PUBLIC = Path(__file__).parent / "data" / "vectors-public.json"
PROPERTY = settings(max_examples=60, deadline=None)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 40))
    scores = draw(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=n, max_size=n))
    limit = draw(st.integers(min(65_535, -(-65_535 // n) + 1), 65_535))
    minimum = draw(st.integers(0, 2 * n))
    return np.array(scores), n, limit, minimum


def test_max_upscale_matches_the_chains_vectors():
    vectors = json.loads(PUBLIC.read_text())["vectors"]
    cases = [v for v in vectors if v["kind"] == "primitive.vec_u16_max_upscale_to_u16"]
    assert cases
    for case in cases:
        assert max_upscale_u16(case["inputs"]["values"]).tolist() == case["expected"]["result"]


def test_max_upscale_rounds_half_away_from_zero():
    # 1 * 65535 / 2 = 32767.5 -> 32768
    assert max_upscale_u16([1, 2]).tolist() == [32_768, 65_535]


def test_max_weight_check_skips_the_no_limit_value():
    assert not max_weight_exceeded(np.array([65_535, 0]), 65_535)
    assert max_weight_exceeded(np.array([65_535, 1]), 65_000)


@PROPERTY
@given(problems())
def test_conformed_weights_pass_the_chains_checks(problem):
    scores, n, limit, minimum = problem
    uids, weights = conform_weights(
        scores, n=n, max_weight_limit_u16=limit, min_allowed_weights=minimum
    )
    stored = max_upscale_u16(weights)
    assert not max_weight_exceeded(stored, limit)
    assert len(uids) >= min(n, minimum)
    assert len(set(uids.tolist())) == len(uids)
    assert np.all(np.diff(uids) > 0)
    assert weights.max() == 65_535 and np.array_equal(stored, weights)


@PROPERTY
@given(problems())
def test_conformed_weights_keep_the_order_of_scores(problem):
    scores, n, limit, minimum = problem
    uids, weights = conform_weights(
        scores, n=n, max_weight_limit_u16=limit, min_allowed_weights=minimum
    )
    full = np.zeros(n, dtype=np.int64)
    full[uids] = weights
    higher = scores[:, None] > scores[None, :]
    assert not np.any(higher & (full[:, None] < full[None, :]))


@PROPERTY
@given(problems())
def test_conforming_is_deterministic(problem):
    scores, n, limit, minimum = problem
    a = conform_weights(scores, n=n, max_weight_limit_u16=limit, min_allowed_weights=minimum)
    b = conform_weights(scores.copy(), n=n, max_weight_limit_u16=limit, min_allowed_weights=minimum)
    assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()


def test_all_zero_scores_give_equal_weights_to_everyone():
    uids, weights = conform_weights(
        np.zeros(4), n=4, max_weight_limit_u16=65_535, min_allowed_weights=1
    )
    assert uids.tolist() == [0, 1, 2, 3] and set(weights.tolist()) == {65_535}


def test_a_limit_no_distribution_can_meet_is_refused():
    with pytest.raises(ValueError, match="cannot be met"):
        conform_weights(np.ones(3), n=3, max_weight_limit_u16=10_000, min_allowed_weights=1)


@pytest.mark.parametrize(
    ("scores", "message"),
    [([1.0, float("nan")], "finite"), ([1.0, -0.5], "non-negative"), ([1.0], "one score per uid")],
)
def test_bad_scores_are_refused(scores, message):
    with pytest.raises(ValueError, match=message):
        conform_weights(np.array(scores), n=2, max_weight_limit_u16=65_535, min_allowed_weights=1)


@pytest.mark.parametrize(
    ("uids", "weights", "message"),
    [
        ([0, 0], [1, 1], "duplicate"),
        ([0, 9], [1, 1], "out of range"),
        ([0, 1], [1, -1], "non-negative"),
        ([0, 1], [1, float("inf")], "finite"),
    ],
)
def test_check_weights_refuses_what_the_chain_refuses(uids, weights, message):
    with pytest.raises(ValueError, match=message):
        check_weights(np.array(uids), np.array(weights), n=3)
