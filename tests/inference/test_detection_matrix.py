"""The detection matrix: every cheat of tests/inference/detection_cheats.py against the
production verifier, on 128 sampled tasks of the validator's own generator.

Among the answers whose tokens differ from the honest one, three figures per cheat:

- noticed: the verdict fails, or it counts near-ties (tokens that are not exactly the
  sampler's choice). Every cheat is noticed on every differing answer.
- proven: the verdict fails (a token beyond the margin: the score resets). Cheats that change
  what the model says (another model, a layer dropped, junk, an end-of-sequence the sampler
  did not choose) are proven wrong on at least 99 % of their differing answers. Cheats that
  keep the model and change only how it samples differ from the honest answer partly at
  near-ties the margin must forgive, since an honest bfloat16 miner makes such near-ties too;
  they are proven wrong on most answers, and their near-tie share, many times the honest one,
  is what the validator's window catches (neurons/near_ties.py).
- share: near-ties per token over all the cheat's answers, against VerifyConfig.near_tie_share.

Measured (CPU, float32 verifier) over six draws of the 128 tasks' seeds (five and the test's
own), mean (range) of the share proven wrong, and the mean near-tie share:

=========================================  =====================  ========
cheat                                      proven wrong           near-ties
=========================================  =====================  ========
a layer dropped, skipped or alone EOS,     0.996-1.00 each        13-90 %
  half then junk, early EOS, another model
another model's tokens, true logprobs      0.984 (0.973-1.00)     39 %
cached answer under another seed           0.93 (0.90-0.97)       16.1 %
another miner's answer, another seed       0.93 (0.89-0.96)       16.8 %
greedy for sampled                         0.90 (0.84-0.94)       15.2 %
colder (0.2)                               0.82 (0.74-0.90)       10.3 %
hotter (x1.5)                              0.70 (0.58-0.78)       7.8 %
top_p ignored                              0.65 (0.47-0.81)       1.5 %
dynamic int8                               0.20 (0.09-0.26)       2.8 %
weights with 1e-2 noise                    0.03 (0-0.04)          1.9 %
=========================================  =====================  ========

Honest bfloat16 miners: at most 0.86 % near-ties (test_verify_honest_sweep.py). The floors
below are the lowest of the six draws less 0.05, since another CPU's rounding at a near-tie
can change which tokens a cheat writes; the structural cheats keep the bar of 0.99, except
another model's tokens with true logprobs, whose misses are answers that differ from the
honest one only at near-ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import detection_cheats as cheats
import pytest
import torch
from detection_cheats import EOS

from inference.loading import load_model
from inference.sampler import completion_rows, sampler_evidence
from inference.types import VerifyConfig

# torch warns that dynamic int8 quantisation (the cheat) is deprecated in favour of torchao.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*torch.ao.quantization is deprecated:DeprecationWarning",
    "ignore:.*quantize_per_tensor.*:UserWarning",
)
PRODUCTION = VerifyConfig()
# The bar for cheats that change what the model says.
PROVEN_BAR = 0.99
# A figure means little below this many differing answers (top_p ignored differs on 16-28).
MIN_DIFFERING = 15
STRUCTURAL = (
    "early_eos_where_the_old_rules_tolerated_it",
    "eos_alone",
    "skipped_eos",
    "half_then_junk",
    "another_model",
    "a_layer_dropped",
)
# The lowest share proven wrong over six draws, less 0.05 (see the docstring).
PROVEN_FLOORS = {
    "another_models_tokens_with_true_logprobs": 0.92,
    "greedy_for_sampled": 0.79,
    "colder": 0.69,
    "hotter": 0.53,
    "top_p_ignored": 0.42,
    "cached_answer_under_another_seed": 0.85,
    "another_miners_answer_under_another_seed": 0.84,
    "dynamic_int8": 0.04,
    "weight_noise": 0.0,
}
# Cheats whose near-tie share is above the ceiling in every draw (top_p ignored and weight
# noise are near it: 1.0-1.9 % and 1.5-2.4 %).
WINDOW_CAUGHT = (
    "greedy_for_sampled",
    "colder",
    "hotter",
    "cached_answer_under_another_seed",
    "another_miners_answer_under_another_seed",
    "dynamic_int8",
    "another_models_tokens_with_true_logprobs",
    *STRUCTURAL,
)
ALL = (*STRUCTURAL, *PROVEN_FLOORS)
# A miner that stops wherever the margin tolerates it: measured 2.6 % of tokens saved, on
# 6 of 160 answers.
MARGIN_SITTER_MAX_SAVED = 0.05


@dataclass(frozen=True)
class Outcome:
    differing: int
    proven: int
    noticed: int
    tokens: int
    near_ties: int


@pytest.fixture(scope="module")
def matrix(verifier, honest_model, cheater_model):
    requests = cheats.matrix_requests()
    return cheats.Matrix(
        verifier, honest_model, cheater_model, requests, cheats.generate(honest_model, requests)
    )


@pytest.fixture(scope="module")
def outcomes(matrix, honest_dir) -> dict[str, Outcome]:
    bf16 = load_model(honest_dir, dtype="bfloat16")
    out = {}
    for name in ALL:
        make = getattr(cheats, name)
        items = make(matrix, bf16) if name.startswith("another_miners") else make(matrix)
        verdicts = matrix.verifier.verify_many(items)
        differing = [
            v
            for item, v, honest in zip(items, verdicts, matrix.honest, strict=True)
            if list(item.token_ids) != list(honest.token_ids)
        ]
        out[name] = Outcome(
            differing=len(differing),
            proven=sum(not v.ok for v in differing),
            noticed=sum(not v.ok or v.near_ties > 0 for v in differing),
            tokens=sum(len(item.token_ids) for item in items),
            near_ties=sum(v.near_ties for v in verdicts),
        )
    return out


def test_the_matrix_runs_with_the_production_thresholds(verifier):
    assert verifier.config == PRODUCTION


@pytest.mark.parametrize("cheat", ALL)
def test_every_cheat_is_noticed_on_every_answer_that_differs(outcomes, cheat):
    result = outcomes[cheat]
    assert result.differing >= MIN_DIFFERING
    assert result.noticed == result.differing


@pytest.mark.parametrize("cheat", STRUCTURAL)
def test_cheats_that_change_what_the_model_says_are_proven_wrong(outcomes, cheat):
    result = outcomes[cheat]
    assert result.proven / result.differing >= PROVEN_BAR


@pytest.mark.parametrize("cheat", list(PROVEN_FLOORS))
def test_sampling_cheats_are_proven_wrong_on_most_differing_answers(outcomes, cheat):
    result = outcomes[cheat]
    assert result.proven / result.differing >= PROVEN_FLOORS[cheat]


@pytest.mark.parametrize("cheat", WINDOW_CAUGHT)
def test_the_near_tie_share_of_a_cheat_is_above_the_ceiling(outcomes, cheat):
    result = outcomes[cheat]
    assert result.near_ties / result.tokens > PRODUCTION.near_tie_share


def test_stopping_wherever_the_margin_tolerates_saves_few_tokens(matrix):
    """The rule a cheater sits exactly on: end-of-sequence wherever its score is within the
    margin of the sampler's choice. It passes by construction, and buys almost nothing."""
    items = cheats.claims(matrix.requests, matrix.honest)
    saved = total = 0
    for item, lp in zip(items, matrix.verifier.completion_logprobs(items), strict=True):
        request, n = item.request, len(item.token_ids)
        rows = completion_rows(request.temperature, request.top_p, request.seed, n)
        ev = sampler_evidence(lp, torch.full((n,), EOS), rows, PRODUCTION.nucleus_slack)
        stop = next(
            (
                i
                for i in range(n)
                if item.token_ids[i] != EOS and ev.possible[i]
                and ev.gap[i] <= PRODUCTION.sampler_margin
            ),
            None,
        )  # fmt: skip
        total += n
        saved += 0 if stop is None else n - (stop + 1)
    assert saved / total < MARGIN_SITTER_MAX_SAVED
