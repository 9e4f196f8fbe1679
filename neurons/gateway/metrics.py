"""The gateway's Prometheus metrics, and the one line per minute it logs with the same figures.

Registered on the validator's registry, so they appear on its `--metrics.port` endpoint, and
also served at the gateway's own `GET /metrics`. `read_organic` turns that text back into the
figures `subnet localnet` shows in its live table.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from neurons.metrics import LATENCY_BUCKETS

TOKENS_PER_SECOND_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
SERVED = "served"
PASS, FAIL, UNVERIFIED = "pass", "fail", "unverified"


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.requests = Counter(
            "gateway_requests",
            "organic requests, by outcome (served, or the error code returned)",
            ["outcome"],
            registry=r,
        )
        self.ttft = Histogram(
            "gateway_time_to_first_token_seconds",
            "from the request's arrival to the first token from a miner",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens_per_second = Histogram(
            "gateway_tokens_per_second",
            "decoding speed of one answer: tokens after the first over the time they took",
            buckets=TOKENS_PER_SECOND_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "gateway_tokens", "tokens served, by kind (prompt, completion)", ["kind"], registry=r
        )
        self.retries = Counter(
            "gateway_retries", "requests moved to another miner after a failure", registry=r
        )
        self.miner_requests = Counter(
            "gateway_miner_requests", "organic answers served, per miner uid", ["uid"], registry=r
        )
        self.verifications = Counter(
            "gateway_organic_verifications",
            "organic answers verified, by result (pass, fail, unverified)",
            ["result"],
            registry=r,
        )


@dataclass
class MinuteTally:
    """What happened since the last log line."""

    served: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    completion_tokens: int = 0
    retries: int = 0
    ttft_s: list[float] = field(default_factory=list)
    per_uid: dict[int, int] = field(default_factory=dict)
    verified: dict[str, int] = field(default_factory=dict)

    def line(self, seconds: float) -> str:
        errors = ", ".join(f"{n} {k}" for k, n in sorted(self.errors.items())) or "no errors"
        ttft = f"{statistics.median(self.ttft_s):.3f} s" if self.ttft_s else "-"
        tps = self.completion_tokens / seconds if seconds > 0 else 0.0
        share = ", ".join(f"uid {u}: {n}" for u, n in sorted(self.per_uid.items())) or "none"
        checks = ", ".join(f"{n} {k}" for k, n in sorted(self.verified.items())) or "none"
        return (
            f"gateway | {self.served} served ({errors}), {self.completion_tokens} tokens "
            f"({tps:.1f}/s), ttft p50 {ttft}, {self.retries} retries | miners {share} | "
            f"verified {checks}"
        )


@dataclass(frozen=True)
class OrganicFigures:
    """The gateway's totals as read back from its /metrics text."""

    served: int
    completion_tokens: int
    ttft_mean_s: float | None
    per_uid: dict[int, int]
    verified: dict[str, int]

    @property
    def verified_share(self) -> float:
        checked = self.verified.get(PASS, 0) + self.verified.get(FAIL, 0)
        return checked / self.served if self.served else 0.0


def read_organic(text: str) -> OrganicFigures:
    """The organic figures in a /metrics page (zeros when the gateway served nothing yet)."""
    served = tokens = 0
    ttft_sum = ttft_count = 0.0
    per_uid: dict[int, int] = {}
    verified: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "gateway_requests_total" and labels.get("outcome") == SERVED:
                served = int(value)
            elif name == "gateway_tokens_total" and labels.get("kind") == "completion":
                tokens = int(value)
            elif name == "gateway_time_to_first_token_seconds_sum":
                ttft_sum = value
            elif name == "gateway_time_to_first_token_seconds_count":
                ttft_count = value
            elif name == "gateway_miner_requests_total":
                per_uid[int(labels["uid"])] = int(value)
            elif name == "gateway_organic_verifications_total":
                verified[labels["result"]] = int(value)
    ttft = ttft_sum / ttft_count if ttft_count else None
    return OrganicFigures(served, tokens, ttft, per_uid, verified)
