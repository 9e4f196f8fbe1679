"""The reward rule: zero for a failure, correctness before speed, faster earns more."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neurons.rewards import Outcome, reward, round_rewards

tokens = st.integers(min_value=1, max_value=4096)
seconds = st.floats(min_value=1e-3, max_value=600, allow_nan=False)
references = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False)
speed_weights = st.floats(min_value=0.0, max_value=0.5)


@given(tokens, seconds, references, speed_weights)
def test_failed_verification_earns_zero_however_fast(n, secs, ref, weight):
    assert reward(Outcome(False, n, secs), ref, weight) == 0.0


@given(references, speed_weights)
def test_timeout_earns_zero(ref, weight):
    assert reward(Outcome(True, 0, None), ref, weight) == 0.0


@given(tokens, seconds, references, speed_weights)
def test_verified_reward_is_between_the_correctness_base_and_one(n, secs, ref, weight):
    value = reward(Outcome(True, n, secs), ref, weight)
    assert 1.0 - weight - 1e-12 <= value <= 1.0 + 1e-12


@given(tokens, seconds, seconds, references, speed_weights)
def test_faster_verified_answer_never_earns_less(n, secs_a, secs_b, ref, weight):
    fast, slow = sorted((secs_a, secs_b))
    assert reward(Outcome(True, n, fast), ref, weight) >= reward(
        Outcome(True, n, slow), ref, weight
    )


@given(tokens, seconds, tokens, seconds, references, speed_weights)
def test_speed_share_never_exceeds_the_correctness_share(n1, s1, n2, s2, ref, weight):
    """Any verified answer earns at least what the fastest one gets for its speed alone."""
    slowest_correct = reward(Outcome(True, n1, s1), ref, weight)
    fastest = reward(Outcome(True, n2, s2), ref, weight)
    assert slowest_correct >= fastest - slowest_correct - 1e-12


@given(st.dictionaries(st.integers(0, 255), st.tuples(st.booleans(), tokens, seconds), max_size=20))
def test_round_reference_gives_the_fastest_verified_answer_full_reward(raw):
    outcomes = {uid: Outcome(ok, n, s) for uid, (ok, n, s) in raw.items()}
    rewards = round_rewards(outcomes)
    verified = [uid for uid, o in outcomes.items() if o.verified]
    if verified:
        fastest = max(verified, key=lambda uid: outcomes[uid].throughput)
        assert rewards[fastest] == pytest.approx(1.0)
    assert all(rewards[uid] == 0.0 for uid, o in outcomes.items() if not o.verified)


def test_throughput_above_the_reference_earns_no_more_than_the_reference():
    at_reference = reward(Outcome(True, 100, 1.0), 100.0)
    above = reward(Outcome(True, 1000, 1.0), 100.0)
    assert above == at_reference == 1.0


def test_half_the_reference_throughput_earns_the_base_plus_half_the_speed_share():
    assert reward(Outcome(True, 50, 1.0), 100.0, 0.4) == pytest.approx(0.6 + 0.2)


def test_speed_weight_above_one_half_is_refused():
    with pytest.raises(ValueError, match=r"between 0 and 0\.5"):
        reward(Outcome(True, 1, 1.0), 1.0, 0.6)
