"""`subnet gateway`: key and usage commands, the validator it runs, and the README's recipes
(curl and the openai client) typed against a live gateway."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest
from gateway_helpers import give_scores, serve_gateway

from neurons.gateway import cli
from neurons.gateway.store import GatewayStore
from scripts import cli as subnet_cli

REPO = Path(__file__).resolve().parents[2]
README_PORT = "8000"
README_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
RECIPE_TIMEOUT_S = 60


def gateway(capsys, *argv: str) -> tuple[int, str, str]:
    status = subnet_cli.main(["gateway", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_keys_create_list_and_revoke(tmp_path, capsys):
    path = ("--gateway.path", str(tmp_path))
    status, out, _ = gateway(capsys, "keys", "create", "alice", "--rpm", "10", *path, "--json")
    created = json.loads(out)
    assert status == 0 and created["key"].startswith("sk-subnet-")
    assert gateway(capsys, "keys", "revoke", "alice", *path)[0] == 0
    status, out, _ = gateway(capsys, "keys", "list", *path, "--json")
    (listed,) = json.loads(out)
    assert (listed["name"], listed["requests_per_minute"]) == ("alice", 10)
    assert listed["revoked"] is not None


def test_revoking_an_unknown_key_is_refused_saying_how_to_list_them(tmp_path, capsys):
    status, _, err = gateway(capsys, "keys", "revoke", "nobody", "--gateway.path", str(tmp_path))
    assert status == cli.EXIT_USAGE
    assert "subnet gateway keys list" in err


def test_usage_reports_tokens_per_key_and_cost_per_miner(tmp_path, capsys):
    store = GatewayStore.open(tmp_path)
    key, _ = store.create_key("bob", requests_per_minute=0, tokens_per_minute=0)
    store.record_usage(key.id, prompt_tokens=10, completion_tokens=90, error=False)
    store.record_miner("hk", 3, 90, 0.09)  # 1,000 tokens/s
    store.close()
    argv = ("usage", "--gateway.path", str(tmp_path), "--gateway.gpu_hour_price", "3.6")
    status, out, _ = gateway(capsys, *argv, "--json")
    report = json.loads(out)
    assert status == 0
    assert report["keys"][0]["total_tokens"] == 100
    assert report["miners"][0]["tokens_per_second"] == pytest.approx(1000.0)
    assert report["miners"][0]["usd_per_million_tokens"] == pytest.approx(1.0)
    status, out, _ = gateway(capsys, *argv)
    assert status == 0 and "bob" in out and "1000.0" in out


def test_gateway_without_a_subcommand_runs_a_validator_on_port_8000(monkeypatch):
    from neurons import validator

    seen: list[list[str]] = []
    monkeypatch.setattr(validator, "main", lambda argv: seen.append(argv) or 0)
    monkeypatch.delenv("SUBNET_GATEWAY_PORT", raising=False)
    assert cli.main(["--model", "m"]) == 0
    assert cli.main(["--model", "m", "--gateway.port", "9000"]) == 0
    assert seen == [
        ["--model", "m", "--gateway.port", "8000"],
        ["--model", "m", "--gateway.port", "9000"],
    ]


def readme_recipe(name: str) -> str:
    """The fenced block after `<!-- recipe: NAME -->` in the README."""
    text = (REPO / "README.md").read_text()
    found = re.search(rf"<!-- recipe: {name} -->\s*```\w*\n(.*?)```", text, re.S)
    assert found, f"README has no recipe {name}"
    return found.group(1)


async def run_recipe(argv: list[str], env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), RECIPE_TIMEOUT_S)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_readme_recipes_answer_through_a_live_gateway(subnet, tmp_path, capsys):
    await subnet.start_miner(subnet.miners[0])
    served = await serve_gateway(subnet, tmp_path)
    try:
        give_scores(served.validator, {subnet.uid_of(subnet.miners[0]): 0.5})
        create = readme_recipe("gateway-key").strip().split()
        assert create[:4] == ["subnet", "gateway", "keys", "create"]
        status, out, _ = gateway(capsys, *create[2:], "--gateway.path", str(served.folder))
        secret = out.split()[-1]
        assert status == 0 and secret.startswith("sk-subnet-")
        port = str(served.validator.gateway.port)

        def local(recipe: str) -> str:
            return recipe.replace(f":{README_PORT}", f":{port}").replace(README_MODEL, served.model)

        env = {"SUBNET_KEY": secret, "PATH": "/usr/bin:/bin"}
        curl = await run_recipe(["bash", "-c", local(readme_recipe("gateway-curl"))], env)
        assert json.loads(curl)["choices"][0]["message"]["content"] is not None
        python = local(readme_recipe("gateway-openai"))
        said = await run_recipe([sys.executable, "-c", python], env)
        assert said.strip()
    finally:
        await served.close()
