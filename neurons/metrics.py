"""Prometheus metrics of one neuron, per role, and the `/metrics` endpoint that serves them.

Each neuron owns its own `CollectorRegistry` (not the process-global one), so several neurons
in one process (as in the tests) keep separate counts, and a registry holds only its own
role's metrics: a miner's `/metrics` has no validator rounds. Every metric carries the
neuron's `netuid` and `hotkey` labels, so one Prometheus can scrape many neurons.

- `NeuronMetrics`, what every neuron reports: `subnet_build_info` (version, role) and the
  chain's view of this neuron after each metagraph sync, `subnet_chain_*` (block, uid,
  stake_tao, incentive, dividends, emission_tao, consensus, validator_trust,
  validator_permit, neurons).
- `MinerMetrics`: `subnet_miner_*`, the requests it answered, refused (by reason) and the
  time it took to answer.
- `ValidatorMetrics`: `subnet_validator_*`, its queries, the miners' refusals (by reason),
  the time miners took to answer, verifications, rounds, scores and weight settings.

Another process kind (a gateway, say) adds its own subclass with its own `subnet_ROLE_*`
names. Grafana dashboards for the two roles are in dashboards/.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    start_http_server,
)

from chain import Metagraph, rao_to_tao
from neurons.config import version_text

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SHUTDOWN_JOIN_SECONDS = 5.0
IDENTITY = ("netuid", "hotkey")


class Labelled:
    """A metric whose identity labels (netuid, hotkey) are filled in already:
    `.labels(outcome="served")` adds the rest; `.inc()`, `.set()`, `.observe()` need none."""

    def __init__(self, metric, identity: Mapping[str, str]) -> None:
        self.metric = metric
        self.identity = dict(identity)

    def labels(self, **extra: str):
        return self.metric.labels(**self.identity, **extra)

    def clear(self) -> None:
        self.metric.clear()

    def __getattr__(self, name: str):  # inc, set, observe, info on the identity's child
        return getattr(self.metric.labels(**self.identity), name)


class NeuronMetrics:
    """What every neuron reports; subclasses add their role's metrics."""

    role = "neuron"

    def __init__(self, netuid: int, hotkey: str) -> None:
        self.registry = CollectorRegistry()
        self.identity = {"netuid": str(netuid), "hotkey": hotkey}
        self.build = self._metric(
            Info, "subnet_build", "the software this neuron runs: version and role"
        )
        self.build.info({"version": version_text(), "role": self.role})
        self.block = self._gauge("subnet_chain_block", "last block seen")
        self.metagraph_size = self._gauge("subnet_chain_neurons", "neurons in the subnet")
        self.uid = self._gauge("subnet_chain_uid", "this hotkey's uid")
        self.stake = self._gauge("subnet_chain_stake_tao", "this hotkey's stake, in TAO")
        self.incentive = self._gauge("subnet_chain_incentive", "this uid's incentive, in [0, 1]")
        self.dividends = self._gauge("subnet_chain_dividends", "this uid's dividends, in [0, 1]")
        self.emission = self._gauge(
            "subnet_chain_emission_tao", "what the last epoch paid this uid, in TAO (alpha)"
        )
        self.consensus = self._gauge("subnet_chain_consensus", "this uid's consensus, in [0, 1]")
        self.validator_trust = self._gauge(
            "subnet_chain_validator_trust", "this uid's validator trust, in [0, 1]"
        )
        self.validator_permit = self._gauge(
            "subnet_chain_validator_permit", "1 when this uid holds a validator permit"
        )

    def _metric(self, kind, name: str, doc: str, labels: tuple[str, ...] = (), **options):
        metric = kind(name, doc, [*IDENTITY, *labels], registry=self.registry, **options)
        return Labelled(metric, self.identity)

    def _gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Labelled:
        return self._metric(Gauge, name, doc, labels)

    def observe_chain(self, metagraph: Metagraph, uid: int) -> None:
        """The chain's view of this uid, from one metagraph snapshot."""
        self.block.set(metagraph.block)
        self.metagraph_size.set(metagraph.n)
        self.uid.set(uid)
        self.stake.set(float(metagraph.stake_tao[uid]))
        self.incentive.set(float(metagraph.incentive[uid]))
        self.dividends.set(float(metagraph.dividends[uid]))
        self.emission.set(rao_to_tao(int(metagraph.emission[uid])))
        self.consensus.set(float(metagraph.consensus[uid]))
        self.validator_trust.set(float(metagraph.validator_trust[uid]))
        self.validator_permit.set(1.0 if metagraph.validator_permit[uid] else 0.0)


class MinerMetrics(NeuronMetrics):
    role = "miner"

    def __init__(self, netuid: int, hotkey: str) -> None:
        super().__init__(netuid, hotkey)
        self.requests = self._metric(
            Counter,
            "subnet_miner_requests",
            "requests received, by outcome (served, refused, busy, error, rejected, dropped)",
            ("outcome",),
        )
        self.refusals = self._metric(
            Counter,
            "subnet_miner_refusals",
            "requests refused, by the reason in the refusal (caller_not_registered, ...)",
            ("reason",),
        )
        self.request_seconds = self._metric(
            Histogram,
            "subnet_miner_request_seconds",
            "time from receiving a request to the end of its answer, served requests only",
            buckets=LATENCY_BUCKETS,
        )
        self.generated_tokens = self._metric(
            Counter, "subnet_miner_generated_tokens", "completion tokens generated"
        )


class ValidatorMetrics(NeuronMetrics):
    role = "validator"

    def __init__(self, netuid: int, hotkey: str) -> None:
        super().__init__(netuid, hotkey)
        self.queries = self._metric(
            Counter,
            "subnet_validator_queries",
            "tasks sent to miners, by outcome (answered, refused, timeout, ...)",
            ("outcome",),
        )
        self.refusals = self._metric(
            Counter,
            "subnet_validator_refusals",
            "tasks miners refused with a signed reason, by that reason",
            ("reason",),
        )
        self.answer_seconds = self._metric(
            Histogram,
            "subnet_validator_answer_seconds",
            "time from sending a task to a miner's whole answer, verified answers only",
            buckets=LATENCY_BUCKETS,
        )
        self.verified_tokens = self._metric(
            Counter, "subnet_validator_verified_tokens", "completion tokens of verified answers"
        )
        self.verifications = self._metric(
            Counter, "subnet_validator_verifications", "answers verified, by result", ("result",)
        )
        self.rounds = self._metric(Counter, "subnet_validator_rounds", "rounds completed")
        self.round_seconds = self._metric(
            Histogram,
            "subnet_validator_round_seconds",
            "wall time of one round",
            buckets=LATENCY_BUCKETS,
        )
        self.score = self._gauge("subnet_validator_score", "moving-average score per uid", ("uid",))
        self.weight_sets = self._metric(
            Counter,
            "subnet_validator_weight_sets",
            "set_weights attempts, by result (ok, or the chain's error name)",
            ("result",),
        )

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
