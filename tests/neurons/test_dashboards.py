"""The Grafana dashboards in dashboards/: every metric they chart is one their role exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from neurons.metrics import MinerMetrics, ValidatorMetrics

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
METRIC_NAME = re.compile(r"\bsubnet_[a-z_]+")
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "info": ("_info",),
}


def exported_names(metrics) -> set[str]:
    """Every sample name a registry can export, whether or not it has samples yet."""
    return {
        family.name + suffix
        for family in metrics.registry.collect()
        for suffix in SUFFIXES[family.type]
    }


def queries(dashboard: dict) -> list[str]:
    """The PromQL of every panel target and templating query."""
    panels = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    variables = [
        v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"
    ]
    return panels + variables


@pytest.mark.parametrize(
    "role, metrics", [("miner", MinerMetrics), ("validator", ValidatorMetrics)]
)
def test_a_dashboard_charts_only_metrics_its_role_exports(role, metrics):
    dashboard = json.loads((DASHBOARDS / f"{role}.json").read_text())
    known = exported_names(metrics(1, "5Hotkey"))
    used = {name for query in queries(dashboard) for name in METRIC_NAME.findall(query)}
    assert used and used <= known, sorted(used - known)


@pytest.mark.parametrize(
    "role, metrics", [("miner", MinerMetrics), ("validator", ValidatorMetrics)]
)
def test_a_dashboard_charts_every_metric_of_its_role(role, metrics):
    dashboard = json.loads((DASHBOARDS / f"{role}.json").read_text())
    used = {name for query in queries(dashboard) for name in METRIC_NAME.findall(query)}
    families = {family.name for family in metrics(1, "5Hotkey").registry.collect()}
    charted = {family for family in families if any(name.startswith(family) for name in used)}
    assert charted == families - {"subnet_chain_uid", "subnet_chain_neurons"}
