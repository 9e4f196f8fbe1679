"""What one answer earns: correctness first, then speed, never speed instead of correctness.

    reward = 0                                                 if not verified (or timed out)
    reward = (1 - w) + w * min(1, throughput / reference)      if verified

`w` is the speed weight (at most 0.5), throughput is completion tokens per second of the
miner's wall latency as the validator measured it, and the reference is a configured
throughput or, by default, the fastest verified throughput of the round. So:

- a failed or missing answer earns exactly 0, however fast it came back;
- a verified answer earns at least 1 - w >= 0.5, and at most 1;
- among verified answers, faster earns more, up to the reference (no reward for going
  beyond it, so one freak measurement cannot dwarf everyone else);
- the slowest correct answer earns at least as much as the speed share of the fastest one.

Pure functions, no clocks: the caller measures and passes the seconds.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

MAX_SPEED_WEIGHT = 0.5
DEFAULT_SPEED_WEIGHT = 0.5
# Below this a measured latency is clock resolution, not speed.
MIN_MEASURABLE_SECONDS = 1e-6

Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True)
class Outcome:
    """How one query went: whether the answer verified, how long it was, how long it took."""

    verified: bool
    completion_tokens: int = 0
    seconds: float | None = None  # None: no answer (timeout, refused, unreachable)

    @property
    def throughput(self) -> float:
        """Completion tokens per second; 0 for a failed or empty answer."""
        if not self.verified or self.seconds is None or self.completion_tokens <= 0:
            return 0.0
        return self.completion_tokens / max(self.seconds, MIN_MEASURABLE_SECONDS)


def check_speed_weight(speed_weight: float) -> None:
    if not 0.0 <= speed_weight <= MAX_SPEED_WEIGHT:
        raise ValueError(
            f"speed_weight must be between 0 and {MAX_SPEED_WEIGHT} so that correctness earns "
            f"at least as much as speed; got {speed_weight}"
        )


def reward(
    outcome: Outcome, reference_tps: float, speed_weight: float = DEFAULT_SPEED_WEIGHT
) -> float:
    """The reward in [0, 1] of one outcome against a reference throughput (tokens/s)."""
    check_speed_weight(speed_weight)
    if not outcome.verified or outcome.seconds is None:
        return 0.0
    speed = min(1.0, outcome.throughput / reference_tps) if reference_tps > 0 else 1.0
    return (1.0 - speed_weight) + speed_weight * speed


def round_rewards(
    outcomes: Mapping[Key, Outcome],
    reference_tps: float = 0.0,
    speed_weight: float = DEFAULT_SPEED_WEIGHT,
) -> dict[Key, float]:
    """Rewards of one round; with `reference_tps` 0 the round's fastest verified answer is it."""
    if reference_tps <= 0:
        reference_tps = max((outcome.throughput for outcome in outcomes.values()), default=0.0)
    return {key: reward(outcome, reference_tps, speed_weight) for key, outcome in outcomes.items()}
