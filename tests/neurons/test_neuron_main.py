"""The command lines: `main(argv)` of both neurons, and the script entry points."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path

import bittensor
import pytest
from rich.console import Console

import chain
from chain import dev_wallet
from neurons import base, miner, validator
from neurons.config import options_for
from scripts import cli

REPO = Path(__file__).resolve().parents[2]
HELP_TIMEOUT_S = 60


@pytest.fixture
def log_lines(monkeypatch):
    """What the neuron logs, without touching the process-wide log setup."""
    from loguru import logger

    lines: list[str] = []
    for module in (miner, validator):
        monkeypatch.setattr(module, "setup_logging", lambda config: None)
    sink = logger.add(lambda message: lines.append(str(message)), level="INFO")
    try:
        yield lines
    finally:
        logger.remove(sink)


def make_hotkey(path: Path, name: str):
    wallet = bittensor.Wallet(name=name, hotkey="default", path=str(path))
    wallet.create_new_hotkey(use_password=False, suppress=True)
    return wallet


def test_missing_wallet_error_names_the_command_that_creates_it(tmp_path, log_lines):
    argv = ["--wallet.path", str(tmp_path), "--wallet.name", "nobody", "--model", "m"]
    assert miner.main([*argv, "--subtensor.network", "dev:memory"]) == base.EXIT_STARTUP_ERROR
    logged = "".join(log_lines)
    assert "subnet wallet create --wallet.name nobody --wallet.hotkey default" in logged
    assert "btcli wallet create --wallet-name nobody --wallet-hotkey default" in logged


def test_missing_model_is_a_usage_error(capsys):
    assert validator.main(["--subtensor.network", "dev:memory"]) == base.EXIT_USAGE
    assert "--model is required" in capsys.readouterr().err


def test_bad_option_value_is_a_usage_error(capsys):
    assert miner.main(["--axon.port", "99999", "--model", "m"]) == base.EXIT_USAGE
    assert "--axon.port (from flag) must be a TCP port" in capsys.readouterr().err


def test_unregistered_hotkey_error_says_how_to_register(tmp_path, log_lines):
    network = "dev:memory:neurons-main-unregistered"

    async def make_subnet() -> int:
        return await chain.connect(network).create_subnet(dev_wallet("//Alice"))

    netuid = asyncio.run(make_subnet())
    make_hotkey(tmp_path, "fresh")
    argv = [
        "--wallet.path", str(tmp_path), "--wallet.name", "fresh", "--model", "m",
        "--subtensor.network", network, "--netuid", str(netuid),
    ]  # fmt: skip
    assert validator.main(argv) == base.EXIT_STARTUP_ERROR
    assert f"is not registered on netuid {netuid}" in "".join(log_lines)


def test_real_network_error_gives_the_btcli_register_command():
    config = miner.load_config("miner", ["--subtensor.network", "test", "--netuid", "7"], env={})
    hint = base.register_hint(config, "5Hotkey")
    assert "btcli subnets register --netuid 7" in hint
    assert "--network test" in hint


def test_miner_script_runs_as_a_file_and_lists_every_option():
    result = subprocess.run(
        [sys.executable, "neurons/miner.py", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=HELP_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for option in options_for("miner"):
        assert f"{option.flag} " in text and option.env in text


def test_subnet_validator_help_lists_the_validator_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["validator", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--validator.weights_every" in text and "SUBNET_VALIDATOR_WEIGHTS_EVERY" in text


def test_model_threads_option_limits_torch_threads():
    import torch

    before = torch.get_num_threads()
    try:
        base.limit_model_threads(miner.load_config("miner", ["--model.threads", "1"], env={}))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_misspelt_network_is_named_before_anything_else(capsys):
    assert miner.main(["--subtensor.network", "tset", "--model", "m"]) == base.EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown network 'tset'" in err and "external_ip" not in err


def test_logging_dir_keeps_the_log_in_a_file_from_its_first_line(tmp_path):
    from loguru import logger

    argv = ["--wallet.path", str(tmp_path / "w"), "--wallet.name", "nobody", "--model", "m"]
    argv += ["--subtensor.network", "dev:memory", "--logging.logging_dir", str(tmp_path / "logs")]
    try:
        assert miner.main(argv) == base.EXIT_STARTUP_ERROR
    finally:
        logger.remove()
        logger.add(sys.stderr)
    text = (tmp_path / "logs" / "miner-nobody-default.log").read_text()
    first = text.splitlines()[0]
    assert "starting miner (subnetkit" in first
    assert "on dev:memory, netuid 1, wallet nobody/default" in first
    assert "subnet wallet create --wallet.name nobody" in text


def test_a_model_load_says_what_loads_and_how_long_it_took(log_lines, tmp_path):
    config = miner.load_config("miner", ["--model", str(tmp_path)], env={})
    with base.loading_model(config):
        pass
    logged = "".join(log_lines)
    assert f"loading model {tmp_path} (device auto, dtype auto)" in logged
    assert f"model {tmp_path} loaded in " in logged


def test_the_progress_line_shows_on_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with base.progress_line("loading model m", console):
        pass
    assert "loading model m" in out.getvalue()


def test_subnet_version_prints_the_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("subnetkit ")
