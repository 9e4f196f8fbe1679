"""Which miner answers an organic request: pure, given the candidates, the clock and an rng.

    router = Router()
    pick = router.choose(candidates, rng, now, exclude={hotkeys already tried})
    router.succeeded(pick.hotkey, ttft_s, tokens_per_s)     # or router.failed(pick.hotkey, now)

Candidates are the miners the validator holds a verified score for (score > 0) and that have
not failed verification since (the validator's standing, see neurons/validator.py). Among
them a request goes to one drawn at random with weight

    score * (fastest expected seconds / this miner's expected seconds) ** SPEED_EXPONENT

where a miner's expected seconds for a reference answer of REFERENCE_TOKENS tokens is its
measured time to first token plus REFERENCE_TOKENS over its measured tokens per second
(moving averages of what the gateway saw). A miner not measured yet is expected to be as fast
as the fastest, so new miners get tried. Random rather than always the best: the load spreads,
and slower miners keep being measured.

Circuit breaker: after FAILURES_TO_OPEN failures in a row (an error, a refusal, a timeout) a
miner is skipped for COOLDOWN_S seconds; then it gets requests again, and one more failure
skips it for another cooldown. One success closes the breaker.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from chain import Metagraph
from incentive.scoring import MovingAverageScores
from neurons.rounds import serving_uids
from protocol.client import Target

# A miner 4x slower than the fastest gets 1/16 of its weight: with two fast and two 4x slower
# miners of equal score, about 94 % of requests go to the fast two (scripts/bench/gateway.py).
SPEED_EXPONENT = 2.0
REFERENCE_TOKENS = 64
# Moving-average factor of the speed measurements: recent answers count most.
SPEED_ALPHA = 0.3
FAILURES_TO_OPEN = 3
COOLDOWN_S = 30.0


@dataclass(frozen=True)
class Candidate:
    uid: int
    hotkey: str
    target: Target
    score: float  # the validator's moving-average score, > 0


@dataclass
class Speed:
    ttft_s: float | None = None
    tokens_per_s: float | None = None

    def add(self, ttft_s: float, tokens_per_s: float | None) -> None:
        self.ttft_s = _average(self.ttft_s, ttft_s)
        if tokens_per_s is not None and tokens_per_s > 0:
            self.tokens_per_s = _average(self.tokens_per_s, tokens_per_s)

    def expected_s(self) -> float | None:
        if self.ttft_s is None:
            return None
        if self.tokens_per_s is None:
            return self.ttft_s
        return self.ttft_s + REFERENCE_TOKENS / self.tokens_per_s


def decoding_speed(tokens: int, seconds: float) -> float | None:
    """Tokens per second over `seconds` (None when there is nothing to measure)."""
    return tokens / seconds if tokens > 0 and seconds > 0 else None


def candidates_of(
    metagraph: Metagraph, own_uid: int | None, scores: MovingAverageScores, failed: Collection[str]
) -> list[Candidate]:
    """Serving miners with a verified score whose hotkey has not failed verification since."""
    found = []
    for uid in serving_uids(metagraph, own_uid):
        hotkey = metagraph.hotkeys[uid]
        holds = uid < scores.n and scores.hotkeys[uid] == hotkey
        score = float(scores.scores[uid]) if holds else 0.0
        if score > 0 and hotkey not in failed:
            axon = metagraph.axons[uid]
            found.append(Candidate(uid, hotkey, Target.at(hotkey, axon.ip, axon.port), score))
    return found


def _average(old: float | None, new: float) -> float:
    return new if old is None else SPEED_ALPHA * new + (1 - SPEED_ALPHA) * old


@dataclass
class Breaker:
    failures: int = 0  # in a row
    open_until: float = 0.0

    def is_open(self, now: float) -> bool:
        return now < self.open_until


@dataclass
class Router:
    failures_to_open: int = FAILURES_TO_OPEN
    cooldown_s: float = COOLDOWN_S
    speeds: dict[str, Speed] = field(default_factory=dict)
    breakers: dict[str, Breaker] = field(default_factory=dict)

    def succeeded(self, hotkey: str, ttft_s: float, tokens_per_s: float | None) -> None:
        """A served answer: its time to first token and decoding speed (see `decoding_speed`)."""
        self.speeds.setdefault(hotkey, Speed()).add(ttft_s, tokens_per_s)
        self.breakers.pop(hotkey, None)

    def failed(self, hotkey: str, now: float) -> None:
        breaker = self.breakers.setdefault(hotkey, Breaker())
        breaker.failures += 1
        if breaker.failures >= self.failures_to_open:
            breaker.open_until = now + self.cooldown_s

    def skipped(self, hotkey: str, now: float) -> bool:
        breaker = self.breakers.get(hotkey)
        return breaker is not None and breaker.is_open(now)

    def weights(self, candidates: Sequence[Candidate]) -> list[float]:
        expected = [self.speeds.get(c.hotkey, Speed()).expected_s() for c in candidates]
        known = [e for e in expected if e is not None and e > 0]
        fastest = min(known, default=1.0)
        return [
            c.score * (fastest / (e if e is not None and e > 0 else fastest)) ** SPEED_EXPONENT
            for c, e in zip(candidates, expected, strict=True)
        ]

    def choose(
        self,
        candidates: Sequence[Candidate],
        rng: random.Random,
        now: float,
        exclude: Collection[str] = (),
    ) -> Candidate | None:
        """One candidate drawn by weight, among those not excluded and not skipped."""
        open_ = [
            c
            for c in candidates
            if c.score > 0 and c.hotkey not in exclude and not self.skipped(c.hotkey, now)
        ]
        if not open_:
            return None
        return rng.choices(open_, weights=self.weights(open_))[0]
