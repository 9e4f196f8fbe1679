"""The statistical half of verification: each miner's share of near-ties over its last tokens.

One answer proves a miner wrong only when a token is beyond the sampler's margin
(inference.sampler), because an honest miner in another precision makes near-ties too: tokens
that are not exactly the sampler's choice but within the margin of it. A miner that samples
some other way (greedy when sampling was asked, another temperature, a cached answer, a
quantised model) makes many more of them, answer after answer. So the validator keeps, per
hotkey, its tokens and near-ties over about the last ``window`` tokens (a leaky window: past
the window, both counts shrink in proportion), and once the window is full, a share above
``ceiling`` makes that miner's answers earn nothing until its share falls back. It never
resets a score: that is for proof. The window and ceiling are inference.types.VerifyConfig's
``near_tie_window`` and ``near_tie_share``, measured there.

Pure: counts in, a flag out; the validator saves ``to_dict`` in its state file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass
class NearTieWindow:
    window: int
    ceiling: float
    counts: dict[str, tuple[float, float]] = field(default_factory=dict)  # tokens, near-ties

    def record(self, hotkey: str, tokens: float, near_ties: float) -> None:
        seen, ties = self.counts.get(hotkey, (0.0, 0.0))
        seen, ties = seen + tokens, ties + near_ties
        if seen > self.window:
            keep = self.window / seen
            seen, ties = float(self.window), ties * keep
        self.counts[hotkey] = (seen, ties)

    def share(self, hotkey: str) -> float | None:
        """Near-ties per token over the window; None until the window is full."""
        seen, ties = self.counts.get(hotkey, (0.0, 0.0))
        return ties / seen if seen >= self.window else None

    def flagged(self, hotkey: str) -> bool:
        share = self.share(hotkey)
        return share is not None and share > self.ceiling

    def keep_only(self, hotkeys: Iterable[str]) -> None:
        """Forget hotkeys no longer registered (a new owner of the uid starts afresh)."""
        current = set(hotkeys)
        self.counts = {k: v for k, v in self.counts.items() if k in current}

    def to_dict(self) -> dict[str, list[float]]:
        return {hotkey: [seen, ties] for hotkey, (seen, ties) in self.counts.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, object], window: int, ceiling: float) -> NearTieWindow:
        """ValueError for anything but hotkey -> [tokens, near-ties] with 0 <= ties <= tokens."""
        loaded = cls(window, ceiling)
        for hotkey, pair in data.items():
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError(f"near-ties of {hotkey!r} must be [tokens, near_ties]")
            seen, ties = pair
            if (
                not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                    for v in (seen, ties)
                )
                or not 0 <= ties <= seen
            ):
                raise ValueError(f"near-ties of {hotkey!r} must be 0 <= near_ties <= tokens")
            loaded.record(hotkey, seen, ties)  # a smaller window than saved shrinks them
        return loaded


# The first word of the detail of an answer that earns nothing for its miner's near-ties.
NEAR_TIES = "near_ties"


def near_tie_detail(window: NearTieWindow, hotkey: str) -> str:
    return (
        f"{NEAR_TIES}: {window.share(hotkey):.1%} of this miner's last {window.window} tokens "
        f"were not the sampler's exact choice (ceiling {window.ceiling:.1%}): it samples some "
        "other way, so its answers earn nothing until that falls back"
    )
