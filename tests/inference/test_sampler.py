"""The subnet's sampler: a pure function of logits, temperature, top_p, seed and position,
the same in any batch, thread count or vocabulary size, and distributed as promised."""

from __future__ import annotations

import math
import random

import pytest
import torch

from inference.sampler import (
    GREEDY_TEMPERATURE,
    MAX_SEED,
    UNIFORM_BITS,
    choose,
    completion_rows,
    gumbel_noise,
    mix32,
    noise_key,
    nucleus,
    nucleus_argmax,
    sampler_evidence,
    splitmix64,
)

MASK32 = 0xFFFFFFFF
# Draws per distribution test; frequencies are compared with their standard error.
DRAWS = 20_000
# No token's frequency may sit further than this many standard errors from its probability
# (over some 60 tokens per case; 4.5 sigma is exceeded by chance about once in 10^4 cases).
MAX_SIGMAS = 4.5


def mix32_reference(x: int) -> int:
    """The mixer on plain Python integers: what inference.sampler.mix32 must equal."""
    x ^= x >> 16
    x = (x * 0x21F0AAAD) & MASK32
    x ^= x >> 15
    x = (x * 0x735A2D97) & MASK32
    return x ^ (x >> 15)


def noise_reference(seed: int, position: int, token_id: int) -> float:
    key = noise_key(seed, position)
    h = mix32_reference(mix32_reference(token_id ^ (key & MASK32)) ^ (key >> 32))
    u = ((h >> (32 - UNIFORM_BITS)) + 0.5) / (1 << UNIFORM_BITS)
    return -math.log(-math.log(u))


def test_mix32_on_tensors_equals_the_reference_on_integers():
    rng = random.Random(1)
    values = [0, 1, MASK32, 1 << 31, *(rng.getrandbits(32) for _ in range(2000))]
    got = mix32(torch.tensor(values, dtype=torch.int64)).tolist()
    assert got == [mix32_reference(v) for v in values]


def test_noise_equals_the_integer_reference_for_large_seeds_and_vocabularies():
    seeds = (0, 1, 12345, MAX_SEED)
    for seed in seeds:
        for position in (0, 7, 4095):
            noise = gumbel_noise([noise_key(seed, position)], 152_064, torch.device("cpu"))[0]
            for token in (0, 1, 255, 65_535, 65_536, 152_063):
                assert float(noise[token]) == pytest.approx(
                    noise_reference(seed, position, token), abs=1e-5
                )


def test_noise_of_a_token_does_not_depend_on_the_vocabulary_size():
    keys = [noise_key(9, 3)]
    small = gumbel_noise(keys, 262, torch.device("cpu"))
    large = gumbel_noise(keys, 152_064, torch.device("cpu"))
    assert torch.equal(small[0], large[0, :262])


def test_noise_is_the_same_with_one_and_two_threads():
    keys = [noise_key(s, p) for s in (3, 4) for p in range(8)]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = gumbel_noise(keys, 50_000, torch.device("cpu"))
        torch.set_num_threads(2)
        two = gumbel_noise(keys, 50_000, torch.device("cpu"))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)


def test_the_uniforms_behind_the_noise_are_uniform():
    noise = gumbel_noise([noise_key(5, 0)], 200_000, torch.device("cpu"))[0].double()
    uniforms = torch.exp(-torch.exp(-noise))
    ks = (uniforms.sort().values - torch.linspace(0, 1, len(uniforms), dtype=torch.float64)).abs()
    assert float(ks.max()) < 0.005  # Kolmogorov-Smirnov: 1.63/sqrt(n) is the 1% level
    assert float(uniforms.mean()) == pytest.approx(0.5, abs=0.003)


def test_noise_keys_differ_by_seed_and_position():
    keys = {noise_key(seed, position) for seed in range(50) for position in range(50)}
    assert len(keys) == 2500


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1])
def test_a_seed_out_of_range_is_refused(seed):
    with pytest.raises(ValueError, match="seed must be between 0"):
        noise_key(seed, 0)


def test_splitmix64_is_pinned():
    """The sampler is a published rule: these values may never change."""
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    assert noise_key(0, 0) == splitmix64(splitmix64(0))


def _distribution(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    scaled = logits / temperature
    kept = nucleus(scaled[None], torch.tensor([top_p]))[0]
    probs = torch.softmax(scaled, -1) * kept
    return probs / probs.sum()


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (0.7, 0.9), (0.3, 0.95)])
def test_tokens_follow_the_temperature_and_nucleus_distribution(temperature, top_p):
    logits = torch.randn(60, generator=torch.Generator().manual_seed(7)) * 2
    rows = logits.expand(DRAWS, -1).contiguous()
    picks = choose(rows, [temperature] * DRAWS, [top_p] * DRAWS, range(DRAWS), [5] * DRAWS)
    freq = torch.bincount(torch.tensor(picks), minlength=60).double() / DRAWS
    expected = _distribution(logits, temperature, top_p).double()
    assert float(freq[expected == 0].sum()) == 0.0  # nothing outside the nucleus
    error = (expected * (1 - expected) / DRAWS).sqrt().clamp(min=1e-12)
    assert float(((freq - expected).abs() / error)[expected > 0].max()) < MAX_SIGMAS


def test_the_same_seed_and_position_always_give_the_same_token():
    logits = torch.randn(4, 300, generator=torch.Generator().manual_seed(2))
    args = ([0.8] * 4, [0.9] * 4, [11, 12, 13, 14], [0, 1, 2, 3])
    assert choose(logits, *args) == choose(logits.clone(), *args)


def test_a_row_gets_the_same_token_alone_and_in_any_batch():
    logits = torch.randn(6, 300, generator=torch.Generator().manual_seed(3))
    temperatures, top_ps = [0.0, 0.7, 1.0, 0.5, 1.2, 0.9], [1.0, 0.9, 1.0, 0.5, 0.95, 1.0]
    seeds, positions = [1, 2, 3, 4, 5, 6], [0, 4, 9, 2, 0, 7]
    batch = choose(logits, temperatures, top_ps, seeds, positions)
    alone = [
        choose(logits[i : i + 1], temperatures[i : i + 1], top_ps[i : i + 1], [seeds[i]],
               [positions[i]])[0]
        for i in range(6)
    ]  # fmt: skip
    assert batch == alone


def test_another_seed_or_position_changes_sampled_tokens():
    logits = torch.zeros(1, 1000)  # uniform: the noise alone decides
    first = choose(logits, [1.0], [1.0], [1], [0])
    assert choose(logits, [1.0], [1.0], [2], [0]) != first
    assert choose(logits, [1.0], [1.0], [1], [1]) != first


@pytest.mark.parametrize("temperature", [0.0, 1e-38, GREEDY_TEMPERATURE / 2])
def test_temperatures_below_the_floor_are_greedy(temperature):
    logits = torch.randn(8, 300, generator=torch.Generator().manual_seed(4))
    picks = choose(logits, [temperature] * 8, [0.5] * 8, range(8), range(8))
    assert picks == logits.argmax(-1).tolist()


def test_greedy_ties_go_to_the_lowest_token_id():
    logits = torch.zeros(1, 10)
    logits[0, [3, 6]] = 5.0
    assert choose(logits, [0.0], [1.0], [0], [0]) == [3]


def test_tied_tokens_at_the_nucleus_edge_are_kept_together():
    logits = torch.tensor([[2.0, 1.0, 1.0, 1.0, -3.0]])
    # The top token holds 0.474 of the probability: above top_p 0.4 only it is kept; below
    # top_p 0.5 the three tied tokens come in together, whatever order a sort gives them.
    assert nucleus(logits, torch.tensor([0.4]))[0].tolist() == [True, False, False, False, False]
    assert nucleus(logits, torch.tensor([0.5]))[0].tolist() == [True, True, True, True, False]


@pytest.mark.parametrize("top_p", [0.3, 0.9, 0.97])
def test_the_fast_nucleus_argmax_equals_the_argmax_over_the_sorted_nucleus(top_p):
    # Peaked and flat rows, with ties and tokens sitting at the nucleus edge.
    g = torch.Generator().manual_seed(21)
    scaled = torch.cat(
        [
            torch.randn(400, 262, generator=g) * 4,
            torch.randn(400, 262, generator=g) * 0.3,
            torch.randint(-3, 3, (200, 262), generator=g).float(),
        ]
    )
    scores = scaled + torch.randn(scaled.shape, generator=g)
    p = torch.full((len(scaled),), top_p)
    exact = scores.masked_fill(~nucleus(scaled, p), float("-inf")).argmax(dim=-1)
    assert torch.equal(nucleus_argmax(scores, scaled, p), exact)


def test_the_sampler_s_own_tokens_have_no_gap():
    logits = torch.randn(30, 262, generator=torch.Generator().manual_seed(5)) * 3
    tokens = [choose(logits[i : i + 1], [0.7], [0.9], [123], [i])[0] for i in range(30)]
    ev = sampler_evidence(logits, torch.tensor(tokens), completion_rows(0.7, 0.9, 123, 30), 0.2)
    assert ev.choice == tokens
    assert max(ev.gap) == 0.0
    assert all(ev.possible)


def test_another_token_has_a_gap_in_nats_of_logits():
    logits = torch.zeros(1, 100)
    logits[0, 0], logits[0, 1] = 3.0, 1.0
    ev = sampler_evidence(logits, torch.tensor([1]), completion_rows(0.0, 1.0, None, 1), 0.0)
    assert ev.choice == [0]
    assert ev.gap == [pytest.approx(2.0)]


def test_a_token_outside_every_nearby_nucleus_is_not_possible():
    logits = torch.tensor([[5.0, 4.9, -5.0, -6.0]])
    ev = sampler_evidence(logits, torch.tensor([3]), completion_rows(1.0, 0.9, 1, 1), 0.1)
    assert ev.possible == [False]
    near = sampler_evidence(logits, torch.tensor([1]), completion_rows(1.0, 0.5, 1, 1), 0.1)
    assert near.possible == [True]  # within the slack of the nucleus edge


def test_sampled_evidence_needs_the_seed():
    with pytest.raises(ValueError, match="seed"):
        sampler_evidence(
            torch.zeros(1, 5), torch.tensor([0]), completion_rows(0.8, 1.0, None, 1), 0.1
        )


def test_rows_of_several_completions_give_the_evidence_of_each_alone():
    logits = torch.randn(12, 262, generator=torch.Generator().manual_seed(8)) * 3
    tokens = torch.randint(0, 262, (12,), generator=torch.Generator().manual_seed(9))
    parts = [(0.0, 1.0, None, 3), (0.8, 0.9, 5, 4), (1.0, 1.0, 6, 5)]
    rows = [row for part in parts for row in completion_rows(*part)]
    together = sampler_evidence(logits, tokens, rows, 0.15)
    start, alone = 0, []
    for part in parts:
        n = part[3]
        ev = sampler_evidence(logits[start : start + n], tokens[start : start + n],
                              completion_rows(*part), 0.15)  # fmt: skip
        alone.append(ev)
        start += n
    assert together.choice == [c for ev in alone for c in ev.choice]
    assert together.possible == [p for ev in alone for p in ev.possible]
    assert together.gap == pytest.approx([g for ev in alone for g in ev.gap], abs=1e-5)
