"""Metrics: one registry per neuron, each role's own metrics, netuid and hotkey on every one."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from neurons.metrics import MinerMetrics, ValidatorMetrics, serve_metrics

# What both roles report about themselves from the chain.
CHAIN_GAUGES = (
    "subnet_chain_block",
    "subnet_chain_uid",
    "subnet_chain_stake_tao",
    "subnet_chain_incentive",
    "subnet_chain_dividends",
    "subnet_chain_emission_tao",
    "subnet_chain_consensus",
    "subnet_chain_validator_trust",
    "subnet_chain_validator_permit",
)


async def scrape(port: int) -> dict[str, list]:
    """Every sample of a /metrics page, by sample name."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def own_names(samples: dict[str, list]) -> set[str]:
    """The project's metrics (not the client library's process and python ones)."""
    return {name for name in samples if name.startswith("subnet_")}


def test_two_neurons_in_one_process_keep_separate_counts():
    first, second = MinerMetrics(1, "5First"), MinerMetrics(1, "5Second")
    first.requests.labels(outcome="served").inc()
    labels = {"netuid": "1", "hotkey": "5First", "outcome": "served"}
    assert first.registry.get_sample_value("subnet_miner_requests_total", labels) == 1
    labels["hotkey"] = "5Second"
    assert second.registry.get_sample_value("subnet_miner_requests_total", labels) is None


def test_score_gauges_drop_uids_no_longer_scored():
    metrics = ValidatorMetrics(1, "5V")
    metrics.set_scores({1: 0.5, 2: 0.25})
    metrics.set_scores({2: 0.75})
    identity = {"netuid": "1", "hotkey": "5V"}
    assert (
        metrics.registry.get_sample_value("subnet_validator_score", {**identity, "uid": "1"})
        is None
    )
    assert (
        metrics.registry.get_sample_value("subnet_validator_score", {**identity, "uid": "2"})
        == 0.75
    )


def test_the_endpoint_serves_the_registry():
    metrics = ValidatorMetrics(3, "5V")
    metrics.verifications.labels(result="pass").inc(3)
    server = serve_metrics(metrics, "127.0.0.1", 0)
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    finally:
        server.close()
    expected = 'subnet_validator_verifications_total{hotkey="5V",netuid="3",result="pass"} 3.0'
    assert expected in text


async def test_each_role_exports_its_own_metrics_labelled_with_netuid_and_hotkey(subnet):
    miner = await subnet.start_miner(subnet.miners[0], None, "--metrics.port", "0")
    validator = subnet.validator(0, "--metrics.port", "0")
    await validator.start()
    try:
        await validator.run_round()
        await miner.sync()
        mined, validated = await scrape(miner.metrics_port), await scrape(validator.metrics_port)
    finally:
        validator.stop_metrics()
        miner.stop_metrics()
        await validator.client.aclose()
    for samples, neuron, other in ((mined, miner, "validator"), (validated, validator, "miner")):
        names = own_names(samples)
        assert not {name for name in names if name.startswith(f"subnet_{other}_")}
        assert set(CHAIN_GAUGES) <= names
        for name in names:
            for sample in samples[name]:
                assert sample.labels["netuid"] == str(subnet.netuid)
                assert sample.labels["hotkey"] == neuron.hotkey
        build = samples["subnet_build_info"][0].labels
        assert build["role"] == neuron.role and build["version"].startswith("subnetkit")
    assert {"subnet_miner_requests_total", "subnet_miner_request_seconds_count"} <= own_names(mined)
    assert {
        "subnet_validator_rounds_total",
        "subnet_validator_answer_seconds_count",
        "subnet_validator_verifications_total",
    } <= own_names(validated)
    stake = validated["subnet_chain_stake_tao"][0].value
    assert stake == float(validator.metagraph.stake_tao[validator.uid]) > 0


async def test_a_refusal_is_counted_by_its_reason_on_both_sides(subnet):
    miner = await subnet.start_miner(subnet.miners[0])
    # Another miner's hotkey holds no permit: its metrics as a validator and the miner's
    # both say why it was refused.
    validator = subnet.validator(0, wallet=subnet.miners[2])
    await validator.start()
    try:
        report = await validator.run_round()
    finally:
        await validator.client.aclose()
    reasons = {r.refusal for r in report.results}
    assert reasons == {"caller_without_validator_permit"}
    labels = {"netuid": str(subnet.netuid), "reason": "caller_without_validator_permit"}
    counted = validator.metrics.registry.get_sample_value(
        "subnet_validator_refusals_total", {**labels, "hotkey": validator.hotkey}
    )
    assert counted == validator.config.validator.tasks_per_miner
    refused = miner.metrics.registry.get_sample_value(
        "subnet_miner_refusals_total", {**labels, "hotkey": miner.hotkey}
    )
    assert refused == validator.config.validator.tasks_per_miner
