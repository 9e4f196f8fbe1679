"""The fixed-point emulation against Python big-integer references."""

from __future__ import annotations

import incentive_reference as ref
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incentive.fixed import Exact, Float, backend, fixed_div, fixed_mul, from_float_bits

I64 = st.integers(min_value=-(2**62), max_value=2**62)
SMALL = st.integers(min_value=-(2**40), max_value=2**40)
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(st.lists(st.tuples(I64, SMALL), min_size=1, max_size=20))
def test_mul_floors_the_128_bit_product(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    expected = [max(min(ref.mul(x, y), 2**63 - 1), -(2**63)) for x, y in pairs]
    assert fixed_mul(a, b).tolist() == expected


@FAST
@given(st.lists(st.tuples(SMALL, SMALL), min_size=1, max_size=20))
def test_mul_of_moderate_values_uses_exact_floor(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    assert fixed_mul(a, b).tolist() == [ref.mul(x, y) for x, y in pairs]


@FAST
@given(st.lists(st.tuples(I64, I64), min_size=1, max_size=20))
def test_div_truncates_toward_zero_like_safe_div(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    got = fixed_div(a, b).tolist()
    for (x, y), q in zip(pairs, got, strict=True):
        want = ref.div(x, y)
        assert q == (want if -(2**63) <= want < 2**63 - 1 else 0)


def test_div_by_zero_gives_zero():
    assert fixed_div(np.array([5 << 32, -3]), np.array([0, 0])).tolist() == [0, 0]


def test_from_float_rounds_ties_to_even():
    quantum = 2.0**-32
    got = from_float_bits([0.5 * quantum, 1.5 * quantum, 2.5 * quantum, -0.5 * quantum])
    assert got.tolist() == [0, 2, 2, 0]


def test_from_float_of_f32_literal_matches_chain_fixed():
    # 0.1f32 is 13421773 * 2^-27, so I32F32::from_num keeps it exactly: 13421773 * 2^5 bits,
    # not the 429_496_730 of 0.1 rounded directly to 32 fractional bits.
    assert int(from_float_bits(np.float32(0.1).astype(np.float64))) == 13_421_773 * 32


@pytest.mark.parametrize("value", [0.0, 1.0, -1.0, 0.5, -5.0, 5.0, 3.25, -0.001, 19.9, -20.0])
def test_exp_matches_the_taylor_series_of_substrate_fixed(value):
    bits = int(from_float_bits(value))
    assert int(Exact.exp_safe(np.array([bits]))[0]) == ref.exp_fixed(bits)


def test_exp_safe_clamps_its_input_to_twenty():
    big = np.array([100 << 32, -(100 << 32)], dtype=np.int64)
    clamped = np.array([20 << 32, -(20 << 32)], dtype=np.int64)
    assert Exact.exp_safe(big).tolist() == Exact.exp_safe(clamped).tolist()


def test_float_exp_tracks_the_fixed_taylor_series_closely():
    x = np.linspace(-20, 20, 81)
    exact = Exact.to_float(Exact.exp_safe(from_float_bits(x)))
    approx = Float.exp_safe(Exact.to_float(from_float_bits(x)))
    assert np.max(np.abs(exact - approx) / exact) < 1e-9


def test_to_raw_units_floors_proportion_times_amount():
    p = np.array([429_496_729, 1 << 32, 3, 0], dtype=np.int64)  # ~0.1, 1, tiny, 0
    amount = 123_456_789_012_345
    expected = [(int(x) * amount) >> 32 for x in p]
    assert Exact.to_raw_units(p, amount).tolist() == expected


def test_ten_equal_stakes_give_the_chains_truncated_tenth():
    stake = Exact.stake_weights(np.full(10, 7, dtype=np.int64))
    assert int(stake[0]) == (1 << 32) // 10
    assert Exact.to_raw_units(stake, 1_000_000_000).tolist() == [99_999_999] * 10


def test_stake_weights_of_zero_total_are_zero():
    assert Exact.stake_weights(np.zeros(3, dtype=np.int64)).tolist() == [0, 0, 0]


def test_to_u16_floors_and_saturates():
    x = np.array([1 << 32, (1 << 31), -(1 << 32), 3 << 32], dtype=np.int64)
    assert Exact.to_u16(x).tolist() == [65_535, 32_767, 0, 65_535]


def test_float_mode_products_land_on_the_exact_grid():
    rng = np.random.default_rng(3)
    a_bits = rng.integers(0, 1 << 32, 200)
    b_bits = rng.integers(0, 1 << 32, 200)
    exact = fixed_mul(a_bits, b_bits)
    approx = Float.mul(a_bits / 2.0**32, b_bits / 2.0**32) * 2.0**32
    assert np.array_equal(exact, approx.astype(np.int64))


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="exact"):
        backend("decimal")
