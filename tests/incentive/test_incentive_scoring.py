"""The validator's per-hotkey moving average of rewards."""

from __future__ import annotations

import json

import numpy as np
import pytest

from incentive.scoring import MovingAverageScores


def test_rewards_fold_into_an_exponential_moving_average():
    scores = MovingAverageScores(3, alpha=0.5)
    scores.update([0, 2], ["a", "c"], [1.0, 0.5])
    scores.update([0], ["a"], [0.0])
    assert scores.scores.tolist() == [0.25, 0.0, 0.25]


def test_a_new_hotkey_on_a_uid_starts_from_zero():
    scores = MovingAverageScores(2, alpha=0.5)
    scores.update([1], ["old"], [1.0])
    scores.update([1], ["new"], [1.0])
    assert scores.scores[1] == 0.5


def test_an_empty_update_changes_nothing():
    scores = MovingAverageScores(2, alpha=0.5)
    scores.update([0], ["a"], [1.0])
    scores.update([], [], [])
    assert scores.scores.tolist() == [0.5, 0.0]


def test_reset_zeroes_only_the_given_uids_and_keeps_their_hotkeys():
    scores = MovingAverageScores(3, alpha=1.0)
    scores.update([0, 1, 2], ["a", "b", "c"], [0.3, 0.6, 0.9])
    scores.reset([1, 2])
    assert scores.scores.tolist() == [0.3, 0.0, 0.0]
    assert scores.hotkeys == ["a", "b", "c"]


def test_reset_of_an_unknown_uid_is_refused_and_changes_nothing():
    scores = MovingAverageScores(2, alpha=1.0)
    scores.update([0, 1], ["a", "b"], [0.3, 0.6])
    with pytest.raises(ValueError, match="out of range"):
        scores.reset([0, 2])
    assert scores.scores.tolist() == [0.3, 0.6]


def test_sync_hotkeys_resets_replaced_uids_and_follows_n():
    scores = MovingAverageScores(2, alpha=1.0)
    scores.update([0, 1], ["a", "b"], [0.4, 0.8])
    scores.sync_hotkeys(["a", "x", "c"])
    assert scores.scores.tolist() == [0.4, 0.0, 0.0]
    assert scores.n == 3


def test_state_round_trips_through_plain_data():
    scores = MovingAverageScores(3, alpha=0.2)
    scores.update([0, 1], ["a", "b"], [0.9, 0.3])
    restored = MovingAverageScores.from_dict(json.loads(json.dumps(scores.to_dict())))
    assert restored.scores.tolist() == scores.scores.tolist()
    assert restored.hotkeys == scores.hotkeys and restored.alpha == scores.alpha


@pytest.mark.parametrize(
    ("uids", "rewards", "message"),
    [
        ([0], [1.5], r"\[0, 1\]"),
        ([0], [float("nan")], "finite"),
        ([5], [0.5], "out of range"),
        ([0, 0], [0.5, 0.5], "duplicate"),
    ],
)
def test_bad_rewards_are_refused_and_change_nothing(uids, rewards, message):
    scores = MovingAverageScores(2, alpha=0.5)
    scores.update([0, 1], ["a", "b"], [0.5, 0.5])
    before = (scores.scores.copy(), list(scores.hotkeys))
    with pytest.raises(ValueError, match=message):
        scores.update(uids, ["z"] * len(uids), rewards)
    assert np.array_equal(scores.scores, before[0]) and scores.hotkeys == before[1]


@pytest.mark.parametrize("alpha", [0.0, 1.5, float("nan")])
def test_alpha_outside_zero_one_is_refused(alpha):
    with pytest.raises(ValueError, match="alpha"):
        MovingAverageScores(3, alpha)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"version": 2}, "version"),
        ({"version": 1, "alpha": 0.1, "hotkeys": "a", "scores": []}, "hotkeys"),
        ({"version": 1, "alpha": 0.1, "hotkeys": ["a"], "scores": [2.0]}, "scores"),
    ],
)
def test_a_damaged_state_names_its_field(data, field):
    with pytest.raises(ValueError, match=field):
        MovingAverageScores.from_dict(data)
