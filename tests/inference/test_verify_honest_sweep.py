"""Honest miners in every precision, batch size and thread count pass, with the production
thresholds: 0 failures in 2,016 answers (inference.calibrate's sweep)."""

from __future__ import annotations

import pytest

from inference.calibrate import DEFAULT_ANSWERS, SETTINGS, honest_sweep, load_settings_models
from inference.types import VerifyConfig

PRODUCTION = VerifyConfig()


@pytest.fixture(scope="module")
def sweep(honest_dir, verifier):
    answers = honest_sweep(load_settings_models(str(honest_dir)), DEFAULT_ANSWERS)
    verdicts = verifier.verify_many([a.item for a in answers])
    return answers, verdicts


def test_the_sweep_covers_every_setting_with_at_least_two_thousand_answers(sweep):
    answers, _ = sweep
    assert len(answers) >= 2000
    assert {a.setting for a in answers} == set(SETTINGS)


def test_no_honest_answer_fails_with_the_production_thresholds(sweep, verifier):
    assert verifier.config == PRODUCTION
    answers, verdicts = sweep
    failed = [(a.setting.name, v.codes) for a, v in zip(answers, verdicts, strict=True) if not v.ok]
    assert failed == []


def test_float32_miners_pick_exactly_the_verifier_s_tokens(sweep):
    answers, verdicts = sweep
    near_ties = sum(
        v.near_ties for a, v in zip(answers, verdicts, strict=True) if a.setting.dtype == "float32"
    )
    assert near_ties == 0


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.name for s in SETTINGS])
def test_every_honest_setting_stays_under_the_near_tie_ceiling(sweep, setting):
    answers, verdicts = sweep
    mine = [(a, v) for a, v in zip(answers, verdicts, strict=True) if a.setting == setting]
    tokens = sum(len(a.completion.token_ids) for a, _ in mine)
    near_ties = sum(v.near_ties for _, v in mine)
    assert near_ties / tokens < PRODUCTION.near_tie_share
