"""Config: one table of options, resolved by precedence flag > env > file > default."""

from __future__ import annotations

import pytest

from neurons.config import (
    CONFIG_ENV,
    OPTIONS,
    ConfigError,
    build_parser,
    load_config,
    options_for,
    parse_config_file,
)


def files(**texts: str):
    """A read_file stand-in: config files by path, parsed as the real reader would."""

    def read(path: str):
        return parse_config_file(texts[path], path)

    return read


def test_flag_overrides_environment_and_file():
    config = load_config(
        "validator",
        ["--netuid", "7", "--config", "c.yaml"],
        env={"SUBNET_NETUID": "5"},
        read_file=files(**{"c.yaml": "netuid: 3"}),
    )
    assert config.netuid == 7
    assert config.sources["netuid"] == "flag"


def test_environment_overrides_file():
    config = load_config(
        "validator",
        ["--config", "c.yaml"],
        env={"SUBNET_WALLET_NAME": "from-env"},
        read_file=files(**{"c.yaml": "wallet:\n  name: from-file"}),
    )
    assert config.wallet.name == "from-env"
    assert config.sources["wallet.name"] == "env"


def test_file_overrides_default():
    config = load_config(
        "validator", ["--config", "c.yaml"], env={}, read_file=files(**{"c.yaml": "netuid: 3"})
    )
    assert config.netuid == 3
    assert config.sources["netuid"] == "file"


def test_default_applies_when_no_source_gives_the_option():
    config = load_config("miner", [], env={})
    assert config.axon.port == 8091
    assert config.sources["axon.port"] == "default"


def test_config_file_path_can_come_from_the_environment():
    config = load_config(
        "miner",
        [],
        env={CONFIG_ENV: "c.yaml"},
        read_file=files(**{"c.yaml": "axon.port: 9000"}),
    )
    assert config.axon.port == 9000


def test_file_accepts_nested_and_dotted_keys_alike():
    nested = parse_config_file("validator:\n  timeout: 3.5\n")
    dotted = parse_config_file("validator.timeout: 3.5\n")
    assert nested == dotted == {"validator.timeout": 3.5}


def test_model_can_be_a_scalar_or_a_mapping_with_name_in_the_file():
    scalar = load_config("miner", ["--config", "a"], env={}, read_file=files(a="model: m1"))
    mapping = load_config(
        "miner", ["--config", "b"], env={}, read_file=files(b="model:\n  name: m2\n  device: cpu")
    )
    assert scalar.model.name == "m1"
    assert (mapping.model.name, mapping.model.device) == ("m2", "cpu")


def test_unknown_file_key_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"unknown option 'wallet\.nmae'"):
        parse_config_file("wallet:\n  nmae: x\n", "c.yaml")


def test_file_that_is_not_a_mapping_is_an_error():
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config_file("- netuid\n- 3\n", "c.yaml")


def test_bad_value_error_names_the_option_and_its_source():
    with pytest.raises(ConfigError, match=r"--netuid \(from env SUBNET_NETUID\).*'three'"):
        load_config("miner", [], env={"SUBNET_NETUID": "three"})


def test_out_of_range_value_error_says_what_is_allowed():
    with pytest.raises(ConfigError, match=r"--validator.alpha \(from flag\) must be in \(0, 1\]"):
        load_config("validator", ["--validator.alpha", "1.5"], env={})


def test_boolean_environment_values_are_parsed():
    off = load_config("miner", [], env={"SUBNET_MINER_REQUIRE_PERMIT": "false"})
    on = load_config("miner", [], env={"SUBNET_LOGGING_DEBUG": "yes"})
    assert off.miner.require_permit is False
    assert on.logging.debug is True


def test_boolean_flag_has_a_negative_form():
    config = load_config("miner", ["--no-miner.require_permit"], env={})
    assert config.miner.require_permit is False


def test_optional_option_accepts_none_from_the_file():
    config = load_config(
        "miner", ["--config", "c"], env={}, read_file=files(c="metrics:\n  port: null")
    )
    assert config.metrics.port is None


def test_validator_does_not_accept_miner_only_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_config("validator", ["--miner.queue_size", "3"], env={})
    assert exit_info.value.code == 2
    assert "--miner.queue_size is a miner option" in capsys.readouterr().err


def test_miner_ignores_validator_options_in_a_shared_file():
    config = load_config(
        "miner", ["--config", "c"], env={}, read_file=files(c="validator.timeout: 1\nnetuid: 4")
    )
    assert config.netuid == 4
    assert config.sources["validator.timeout"] == "default"


@pytest.mark.parametrize("role", ["miner", "validator"])
def test_help_lists_every_option_with_its_default_and_env_var(role):
    text = " ".join(build_parser(role).format_help().split())
    for option in options_for(role):
        assert option.flag in text
        assert option.env in text
    assert "--config" in text


def test_every_option_has_a_distinct_env_var():
    names = [option.env for option in OPTIONS]
    assert len(names) == len(set(names))


def test_announced_ip_defaults_to_loopback_on_the_dev_chain():
    config = load_config("miner", ["--subtensor.network", "dev"], env={})
    assert config.announced_ip() == "127.0.0.1"


def test_announced_ip_is_required_on_a_real_network():
    config = load_config("miner", ["--subtensor.network", "test"], env={})
    with pytest.raises(ConfigError, match=r"--axon\.external_ip is required"):
        config.announced_ip()


def test_state_path_defaults_to_one_file_per_wallet_hotkey_and_netuid():
    config = load_config(
        "validator",
        ["--wallet.name", "w", "--wallet.hotkey", "h", "--netuid", "9"],
        env={},
    )
    assert config.state_path().parts[-4:] == ("w", "h", "netuid9", "validator_state.json")


# --- what operators bring from the subnet template, btcli and the bittensor SDK -----------


def test_the_templates_chain_endpoint_flag_sets_the_network():
    config = load_config("miner", ["--subtensor.chain_endpoint", "ws://10.0.0.1:9944"], env={})
    assert config.subtensor.network == "ws://10.0.0.1:9944"
    assert config.sources["subtensor.network"] == "flag"


def test_btcli_wallet_flags_set_the_wallet():
    argv = ["--wallet-name", "me", "--wallet-hotkey", "miner", "--wallet-path", "/w"]
    config = load_config("miner", argv, env={})
    assert (config.wallet.name, config.wallet.hotkey, config.wallet.path) == ("me", "miner", "/w")


def test_two_flags_for_one_option_with_different_values_are_refused():
    argv = ["--wallet.name", "a", "--wallet-name", "b"]
    with pytest.raises(ConfigError, match=r"--wallet\.name a, --wallet-name b set the same option"):
        load_config("miner", argv, env={})


def test_bittensor_environment_variables_are_read():
    env = {"BT_WALLET_NAME": "from-bt", "BT_AXON_EXTERNAL_PORT": "9443"}
    config = load_config("miner", [], env=env)
    assert config.wallet.name == "from-bt" and config.axon.external_port == 9443
    assert config.sources["wallet.name"] == "env"


def test_the_subnet_variable_wins_over_the_bittensor_one():
    env = {"BT_WALLET_NAME": "from-bt", "SUBNET_WALLET_NAME": "from-subnet"}
    assert load_config("miner", [], env=env).wallet.name == "from-subnet"


def test_the_external_port_is_announced_instead_of_the_listening_one():
    assert (
        load_config("miner", ["--axon.external_port", "9000"], env={}).announced_port(8091) == 9000
    )
    assert load_config("miner", [], env={}).announced_port(8091) == 8091


def test_logging_flags_pick_the_most_detailed_level():
    assert load_config("miner", ["--logging.trace"], env={}).logging.level == "TRACE"
    assert load_config("miner", ["--logging.debug"], env={}).logging.level == "DEBUG"
    assert load_config("miner", ["--logging.info"], env={}).logging.level == "INFO"


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_config("validator", ["--version"], env={})
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("subnetkit ")


def test_a_misspelt_network_is_refused_naming_the_known_ones():
    with pytest.raises(ConfigError, match="unknown network 'tset': use finney, test"):
        load_config("miner", ["--subtensor.network", "tset"], env={})


def test_a_misspelt_flag_is_one_line_naming_the_closest(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_config("miner", ["--wallet.hotky", "x"], env={})
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown option --wallet.hotky (did you mean --wallet.hotkey?)" in err
    assert "usage:" not in err
