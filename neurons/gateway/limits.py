"""Per-key limits on requests and tokens per minute: a sliding window, pure given the clock.

    limiter = KeyLimiter()
    wait = limiter.admit(key, now)             # None: go ahead (the request is counted)
    limiter.spend(key.id, tokens, now)         # once the answer's tokens are known

A request is refused while the key has made `requests_per_minute` requests in the last 60 s,
or its answers in the last 60 s used `tokens_per_minute` tokens (prompt and completion); the
refusal says how many seconds until the oldest of them leaves the window (Retry-After). A
limit of 0 means none. Tokens are counted once an answer is known, so one request may take a
key past its token limit; the next ones wait until the window has room again.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from neurons.gateway.store import ApiKey

WINDOW_S = 60.0


@dataclass(frozen=True)
class Refusal:
    code: str  # "requests" or "tokens", what ran out
    retry_after_s: int
    message: str


@dataclass
class _Window:
    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    token_sum: int = 0

    def expire(self, now: float) -> None:
        while self.requests and self.requests[0] <= now - WINDOW_S:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= now - WINDOW_S:
            self.token_sum -= self.tokens.popleft()[1]


def _wait(oldest: float, now: float) -> int:
    return max(1, math.ceil(oldest + WINDOW_S - now))


class KeyLimiter:
    """One sliding window per key id, in memory (limits restart with the gateway)."""

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}

    def admit(self, key: ApiKey, now: float) -> Refusal | None:
        """Count a request for `key`, or say why it must wait (nothing is counted then)."""
        window = self._windows.setdefault(key.id, _Window())
        window.expire(now)
        rpm, tpm = key.requests_per_minute, key.tokens_per_minute
        if rpm and len(window.requests) >= rpm:
            wait = _wait(window.requests[0], now)
            return Refusal(
                "requests",
                wait,
                f"rate limit reached for key {key.name}: {rpm} requests per minute; retry in "
                f"{wait} s, or ask the gateway's operator for a higher limit",
            )
        if tpm and window.token_sum >= tpm:
            wait = _wait(window.tokens[0][0], now)
            return Refusal(
                "tokens",
                wait,
                f"rate limit reached for key {key.name}: {tpm} tokens per minute (used "
                f"{window.token_sum}); retry in {wait} s, or ask for a higher limit",
            )
        window.requests.append(now)
        return None

    def spend(self, key_id: str, tokens: int, now: float) -> None:
        """Count the tokens (prompt and completion) of an answer given to `key_id`."""
        if tokens <= 0:
            return
        window = self._windows.setdefault(key_id, _Window())
        window.tokens.append((now, tokens))
        window.token_sum += tokens
