"""A validator's memory of its miners: a per-hotkey moving average of per-response rewards.

Scores belong to a hotkey, not to a uid: when a uid is re-registered by another hotkey, its
score starts again from zero. The state is plain data (`to_dict` / `from_dict`) so that the
validator can persist it atomically; nothing here touches a file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

STATE_VERSION = 1


def _check_alpha(alpha: float) -> float:
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and 0.0 < alpha <= 1.0):
        raise ValueError(f"alpha (the weight of a new reward) must be in (0, 1], got {alpha!r}")
    return float(alpha)


class MovingAverageScores:
    """score ← alpha · reward + (1 - alpha) · score, per uid, reset when the uid's hotkey changes."""

    def __init__(self, n: int, alpha: float) -> None:
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n (the number of uids) must be a non-negative integer, got {n!r}")
        self.alpha = _check_alpha(alpha)
        self.scores = np.zeros(n, dtype=np.float64)
        self.hotkeys: list[str | None] = [None] * n

    @property
    def n(self) -> int:
        return int(self.scores.shape[0])

    def update(self, uids, hotkeys: Sequence[str], rewards) -> None:
        """Fold one reward per (uid, hotkey) into the average. Refuses bad input unchanged."""
        u = np.asarray(uids)
        r = np.asarray(rewards, dtype=np.float64)
        if u.size == 0 and r.size == 0 and len(hotkeys) == 0:
            return  # a round in which no miner answered changes nothing
        if u.ndim != 1 or r.shape != u.shape or len(hotkeys) != u.size:
            raise ValueError("uids, hotkeys and rewards must be 1-D and of the same length")
        if u.size and not np.issubdtype(u.dtype, np.integer):
            raise ValueError("uids must be integers")
        if u.size and (u.min() < 0 or u.max() >= self.n):
            raise ValueError(f"a uid is out of range: uids must be within 0..{self.n - 1}")
        if np.unique(u).size != u.size:
            raise ValueError("duplicate uids in one update: give one reward per uid")
        if not np.all(np.isfinite(r)):
            raise ValueError("rewards must be finite numbers: found NaN or infinity")
        if r.size and (r.min() < 0.0 or r.max() > 1.0):
            raise ValueError("rewards must lie in [0, 1]")
        if not all(isinstance(h, str) and h for h in hotkeys):
            raise ValueError("hotkeys must be non-empty strings")
        known = np.array(self.hotkeys, dtype=object)
        incoming = np.array(list(hotkeys), dtype=object)
        previous = np.where(known[u] == incoming, self.scores[u], 0.0)  # new hotkey: from zero
        self.scores[u] = self.alpha * r + (1.0 - self.alpha) * previous
        known[u] = incoming
        self.hotkeys = known.tolist()

    def reset(self, uids) -> None:
        """Drop the given uids' averages to zero (e.g. a miner proven to have answered wrongly)."""
        u = np.asarray(uids, dtype=np.int64).reshape(-1)
        if u.size and (u.min() < 0 or u.max() >= self.n):
            raise ValueError(f"a uid is out of range: uids must be within 0..{self.n - 1}")
        self.scores[u] = 0.0

    def sync_hotkeys(self, hotkeys: Sequence[str]) -> None:
        """Follow the metagraph: resize to its n; a uid whose hotkey changed starts from zero."""
        if not all(isinstance(h, str) and h for h in hotkeys):
            raise ValueError("hotkeys must be non-empty strings, one per uid")
        n = len(hotkeys)
        scores = np.zeros(n, dtype=np.float64)
        keep = min(n, self.n)
        known = np.array(self.hotkeys[:keep], dtype=object)
        same = known == np.array(list(hotkeys)[:keep], dtype=object)
        scores[:keep] = np.where(same, self.scores[:keep], 0.0)
        self.scores = scores
        self.hotkeys = list(hotkeys)

    def to_dict(self) -> dict:
        return {
            "version": STATE_VERSION,
            "alpha": self.alpha,
            "hotkeys": list(self.hotkeys),
            "scores": [float(x) for x in self.scores],
        }

    @classmethod
    def from_dict(cls, data: dict) -> MovingAverageScores:
        """Rebuild from `to_dict` output; a damaged state raises ValueError naming the field."""
        if not isinstance(data, dict):
            raise ValueError("scores state must be an object")
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"scores state field 'version': expected {STATE_VERSION}")
        hotkeys, scores = data.get("hotkeys"), data.get("scores")
        if not isinstance(hotkeys, list) or not all(
            h is None or isinstance(h, str) for h in hotkeys
        ):
            raise ValueError("scores state field 'hotkeys': expected a list of strings or nulls")
        if not isinstance(scores, list) or len(scores) != len(hotkeys):
            raise ValueError("scores state field 'scores': expected one number per hotkey")
        damaged = ValueError("scores state field 'scores': expected numbers in [0, 1]")
        try:
            values = np.asarray(scores, dtype=np.float64) if scores else np.zeros(0)
        except (TypeError, ValueError):
            raise damaged from None
        if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values > 1):
            raise damaged
        state = cls(len(hotkeys), data.get("alpha"))
        state.scores = values.copy()
        state.hotkeys = list(hotkeys)
        return state
