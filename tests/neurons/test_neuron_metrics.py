"""Metrics: per-neuron registries and the /metrics endpoint."""

from __future__ import annotations

import httpx

from neurons.metrics import NeuronMetrics, serve_metrics


def test_metrics_endpoint_serves_the_neuron_counters():
    metrics = NeuronMetrics("validator")
    metrics.verifications.labels(result="pass").inc(3)
    server = serve_metrics(metrics, "127.0.0.1", 0)
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    finally:
        server.close()
    assert 'subnet_verifications_total{result="pass"} 3.0' in text


def test_two_neurons_in_one_process_keep_separate_counts():
    first, second = NeuronMetrics("miner"), NeuronMetrics("miner")
    first.requests.labels(outcome="served").inc()
    assert first.registry.get_sample_value("subnet_requests_total", {"outcome": "served"}) == 1
    assert second.registry.get_sample_value("subnet_requests_total", {"outcome": "served"}) is None


def test_score_gauges_drop_uids_no_longer_scored():
    metrics = NeuronMetrics("validator")
    metrics.set_scores({1: 0.5, 2: 0.25})
    metrics.set_scores({2: 0.75})
    assert metrics.registry.get_sample_value("subnet_score", {"uid": "1"}) is None
    assert metrics.registry.get_sample_value("subnet_score", {"uid": "2"}) == 0.75
