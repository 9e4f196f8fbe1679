"""Each miner's near-tie share over its last tokens: a miner that samples some other way earns
nothing once its window is full, without a reset; honest miners are never flagged."""

from __future__ import annotations

import pytest

from neurons import checking
from neurons.near_ties import NEAR_TIES, NearTieWindow

WINDOW = 100
CEILING = 0.05


def test_the_share_is_unknown_until_the_window_is_full():
    window = NearTieWindow(WINDOW, CEILING)
    window.record("hk", 99, 50)
    assert window.share("hk") is None and not window.flagged("hk")
    window.record("hk", 1, 0)
    assert window.share("hk") == pytest.approx(0.5)
    assert window.flagged("hk")


def test_past_the_window_old_tokens_fade_in_proportion():
    window = NearTieWindow(WINDOW, CEILING)
    window.record("hk", 100, 20)  # 20 %
    for _ in range(20):
        window.record("hk", 50, 0)  # then only exact tokens
    assert window.counts["hk"][0] == WINDOW
    assert window.share("hk") < 0.001
    assert not window.flagged("hk")


def test_a_share_at_the_ceiling_is_not_flagged():
    window = NearTieWindow(WINDOW, CEILING)
    window.record("hk", 100, 5)
    assert window.share("hk") == pytest.approx(CEILING)
    assert not window.flagged("hk")


def test_it_round_trips_through_its_dict_and_forgets_deregistered_hotkeys():
    window = NearTieWindow(WINDOW, CEILING)
    window.record("a", 120, 12)
    window.record("b", 10, 1)
    again = NearTieWindow.from_dict(window.to_dict(), WINDOW, CEILING)
    assert again.counts == window.counts
    again.keep_only(["a"])
    assert list(again.counts) == ["a"]


@pytest.mark.parametrize(
    "damaged", [{"hk": [10]}, {"hk": [10, 11]}, {"hk": [-1, 0]}, {"hk": ["10", 1]}]
)
def test_a_damaged_dict_is_refused(damaged):
    with pytest.raises(ValueError, match="near-ties"):
        NearTieWindow.from_dict(damaged, WINDOW, CEILING)


async def test_a_miner_over_the_ceiling_earns_nothing_and_keeps_its_score(subnet):
    flagged, honest = subnet.miners[0], subnet.miners[1]
    await subnet.start_miner(flagged)
    await subnet.start_miner(honest)
    validator = subnet.validator(0, "--validator.near_tie_window", str(WINDOW))
    await validator.start()
    flagged_uid, honest_uid = subnet.uid_of(flagged), subnet.uid_of(honest)
    # Its last 100 tokens: a fifth of them near-ties, four times the production ceiling.
    validator.near_ties.record(flagged.hotkey.ss58_address, WINDOW, WINDOW // 5)
    validator.scores.scores[flagged_uid] = 0.8
    report = await validator.run_round()
    result = next(r for r in report.results if r.uid == flagged_uid)
    assert result.detail.startswith(NEAR_TIES)
    assert report.rewards[flagged_uid] == 0.0
    assert not result.proven_wrong
    assert validator.scores.scores[flagged_uid] == pytest.approx(0.8 * (1 - 0.1))
    assert next(r for r in report.results if r.uid == honest_uid).detail == checking.VERIFIED
    await validator.client.aclose()


async def test_honest_answers_add_their_tokens_and_the_window_survives_a_restart(subnet):
    miner = subnet.miners[0]
    await subnet.start_miner(miner)
    validator = subnet.validator(0)
    await validator.start()
    await validator.run_round()
    seen, ties = validator.near_ties.counts[miner.hotkey.ss58_address]
    assert seen > 0 and ties == 0  # a float32 miner picks exactly the verifier's tokens
    validator.save()
    restored = subnet.validator(0)
    restored.load()
    assert restored.near_ties.counts == validator.near_ties.counts
    await validator.client.aclose()
