"""`subnet localnet` options and run folder: bad input is refused (status 2) before anything
starts, and the neurons get the command lines the run needs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from scripts import localnet
from scripts.localnet_chain import CHEATER, MINER, VALIDATOR, NeuronSpec, Subnet
from scripts.localnet_options import (
    DEFAULT_MODEL,
    MARKER,
    TASKS_PER_MINER,
    UsageError,
    build_parser,
    neuron_argv,
    options_from,
    prepare_out,
)

NETWORK = "dev://127.0.0.1:9"


def options(*argv: str):
    return options_from(build_parser().parse_args(list(argv)))


def value_after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def spec(role: str) -> NeuronSpec:
    return NeuronSpec(f"{role}0", role, f"{role}0", "hot", "cold", 3)


def test_missing_model_folder_is_refused_naming_the_build_command(tmp_path, capsys):
    out = tmp_path / "run"
    assert localnet.main(["--model", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "python -m inference.tiny --out" in capsys.readouterr().err
    assert not out.exists()


def test_port_in_use_is_refused_before_anything_starts(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert localnet.main(["--port", str(port), "--out", str(tmp_path / "run")]) == 2
    assert f"--port {port} is in use" in capsys.readouterr().err


def test_a_run_needs_at_least_one_honest_miner():
    with pytest.raises(UsageError, match="at least one miner must be honest"):
        options("--miners", "2", "--cheaters", "2")


def test_default_models_are_built_when_missing_and_given_ones_never(tmp_path):
    assert [path.name for path, _ in options().builds] == ["tiny", "tiny-other"]
    given = options("--model", str(tmp_path), "--cheat-model", str(tmp_path))
    assert given.builds == ()
    assert options().model == Path(DEFAULT_MODEL).resolve()


def test_a_folder_with_other_files_is_refused_and_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a localnet run"):
        prepare_out(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_previous_run_in_the_folder_is_cleared(tmp_path):
    prepare_out(tmp_path)
    (tmp_path / "logs" / "miner0.log").write_text("old run")
    (tmp_path / "epochs.csv").write_text("old")
    prepare_out(tmp_path)
    assert (tmp_path / MARKER).exists()
    assert list((tmp_path / "logs").iterdir()) == []
    assert not (tmp_path / "epochs.csv").exists()


def test_the_cheater_serves_the_other_model_and_honest_miners_the_subnet_model(tmp_path):
    opts = options("--model", str(tmp_path), "--cheat-model", str(tmp_path.parent))
    subnet = Subnet(1, 0, spec("owner"), [])
    honest = neuron_argv(spec(MINER), opts, subnet, NETWORK)
    cheater = neuron_argv(spec(CHEATER), opts, subnet, NETWORK)
    assert value_after(honest, "--model") == str(opts.model)
    assert value_after(cheater, "--model") == str(opts.cheat_model)
    assert value_after(cheater, "--axon.port") == "0"


def test_validators_keep_their_wallets_and_state_in_the_run_folder(tmp_path):
    opts = options("--model", str(tmp_path), "--cheat-model", str(tmp_path), "--out", "x")
    argv = neuron_argv(spec(VALIDATOR), opts, Subnet(4, 0, spec("owner"), []), NETWORK)
    assert argv[argv.index("-m") + 1] == "neurons.validator"
    assert value_after(argv, "--wallet.path") == str(opts.out / "wallets")
    assert Path(value_after(argv, "--validator.state_path")).parent == opts.out / "state"
    assert value_after(argv, "--validator.tasks_per_miner") == str(TASKS_PER_MINER)
    assert value_after(argv, "--netuid") == "4"


def test_only_the_gateway_validator_serves_the_gateway_in_the_run_folder(tmp_path):
    opts = options("--model", str(tmp_path), "--cheat-model", str(tmp_path), "--verify-share", "1")
    subnet = Subnet(4, 0, spec("owner"), [])
    serving = neuron_argv(spec(VALIDATOR), opts, subnet, NETWORK, gateway=True)
    other = neuron_argv(spec(VALIDATOR), opts, subnet, NETWORK)
    assert value_after(serving, "--gateway.port") == "0"
    assert value_after(serving, "--gateway.path") == str(opts.out / "state" / "gateway")
    assert value_after(serving, "--gateway.verify_share") == "1"
    assert "--gateway.port" not in other


def test_a_verify_share_outside_0_to_1_is_refused():
    with pytest.raises(UsageError, match="--verify-share must be between 0 and 1"):
        options("--verify-share", "1.5")
