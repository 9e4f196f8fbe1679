"""Prometheus metrics of one neuron, and the `/metrics` endpoint that serves them.

Each neuron owns its own `CollectorRegistry` (not the process-global one), so several neurons
in one process (as in the tests) keep separate counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SHUTDOWN_JOIN_SECONDS = 5.0


class NeuronMetrics:
    """The metrics both neurons report; each neuron uses the ones that apply to it."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.registry = CollectorRegistry()
        r = self.registry
        # Miner: requests received, by outcome (served, refused_<reason>, busy, error).
        self.requests = Counter(
            "subnet_requests", "requests handled, by outcome", ["outcome"], registry=r
        )
        self.request_latency = Histogram(
            "subnet_request_latency_seconds",
            "time to answer one request (miner) or get one answer (validator)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.generated_tokens = Counter(
            "subnet_generated_tokens", "completion tokens generated or received", registry=r
        )
        # Validator: queries sent, by outcome (answered, timeout, error).
        self.queries = Counter("subnet_queries", "queries sent to miners", ["outcome"], registry=r)
        self.verifications = Counter(
            "subnet_verifications", "answers verified, by result", ["result"], registry=r
        )
        self.rounds = Counter("subnet_rounds", "validation rounds completed", registry=r)
        self.round_seconds = Histogram(
            "subnet_round_seconds", "wall time of one round", buckets=LATENCY_BUCKETS, registry=r
        )
        self.score = Gauge("subnet_score", "moving-average score per uid", ["uid"], registry=r)
        self.weight_sets = Counter(
            "subnet_weight_sets", "set_weights attempts, by result", ["result"], registry=r
        )
        self.block = Gauge("subnet_block", "last block seen", registry=r)
        self.metagraph_size = Gauge("subnet_metagraph_n", "neurons in the metagraph", registry=r)

    def set_scores(self, scores: dict[int, float]) -> None:
        """Replace the per-uid score gauges (uids that left the metagraph are dropped)."""
        self.score.clear()
        for uid, value in scores.items():
            self.score.labels(uid=str(uid)).set(value)


@dataclass
class MetricsServer:
    """A running `/metrics` endpoint; `close()` stops it."""

    server: WSGIServer
    thread: Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(SHUTDOWN_JOIN_SECONDS)


def serve_metrics(metrics: NeuronMetrics, ip: str, port: int) -> MetricsServer:
    """Serve `metrics` at http://IP:PORT/metrics in a background thread (port 0: any free)."""
    server, thread = start_http_server(port, addr=ip, registry=metrics.registry)
    return MetricsServer(server, thread)
