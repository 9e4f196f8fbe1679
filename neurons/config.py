"""One typed configuration for both neurons, from flags, environment, a YAML file and defaults.

Every option is declared once, in `neurons.options.OPTIONS`, with its type, default, help text
and the neurons it applies to. From that one table come the argparse flags (in the dotted convention subnet
users know: `--wallet.name`, `--subtensor.network`, ...), the environment variable names
(`SUBNET_` + the dotted name upper-cased with `.` -> `_`), the keys accepted in the YAML file
(`--config PATH`, nested mappings or dotted keys) and the `--help` text.

Precedence, per option: command-line flag, then environment variable, then config file, then
the default. `load_config` is pure given its arguments (argv, an environment mapping and the
file's text are all passed in), so the precedence rules are tested without touching the process.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from neurons.options import (
    CONFIG_ENV,
    DEFAULT_STATE_DIR,
    ENV_PREFIX,
    LOCAL_NETWORKS,
    MINER,
    OPTIONS,
    OPTIONS_BY_KEY,
    ROLES,
    VALIDATOR,
    Option,
)
from protocol.connections import ConnectionLimits

__all__ = [
    "CONFIG_ENV",
    "MINER",
    "OPTIONS",
    "VALIDATOR",
    "Config",
    "ConfigError",
    "build_parser",
    "load_config",
    "options_for",
    "parse_config_file",
]
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# How an option's type is named in an error message.
_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


class ConfigError(ValueError):
    """A bad option value; the message names the option, where it came from, and what to fix."""


@dataclass(frozen=True)
class WalletConfig:
    name: str
    hotkey: str
    path: str


@dataclass(frozen=True)
class SubtensorConfig:
    network: str


@dataclass(frozen=True)
class AxonConfig:
    ip: str
    port: int
    external_ip: str | None
    max_connections: int
    max_connections_per_address: int
    header_timeout: float
    body_timeout: float
    keep_alive: float

    def connection_limits(self, max_connections: int | None = None) -> ConnectionLimits:
        """The server's bounds on clients (`max_connections` overrides the option's value)."""
        return ConnectionLimits(
            max_connections=max_connections or self.max_connections,
            max_per_address=self.max_connections_per_address,
            header_timeout_s=self.header_timeout,
            body_timeout_s=self.body_timeout,
            keep_alive_s=self.keep_alive,
        )


@dataclass(frozen=True)
class ModelConfig:
    name: str | None
    served_name: str | None
    device: str
    dtype: str
    threads: int
    max_batch: int
    backend_url: str | None

    @property
    def wire_name(self) -> str:
        """The name requests carry: `--model.served_name`, else `--model`."""
        return self.served_name or self.name or ""


@dataclass(frozen=True)
class LoggingConfig:
    debug: bool


@dataclass(frozen=True)
class MetricsConfig:
    port: int | None
    ip: str


@dataclass(frozen=True)
class NeuronConfig:
    sync_every: int
    shutdown_timeout: float


@dataclass(frozen=True)
class MinerConfig:
    require_permit: bool
    min_stake: float
    max_concurrent: int
    queue_size: int


@dataclass(frozen=True)
class ValidatorConfig:
    round_interval: float
    sample_size: int
    timeout: float
    tasks_per_miner: int
    verify_batch: int
    max_tokens: int
    weights_every: int
    alpha: float
    speed_weight: float
    reference_tps: float
    reset_on_failure: bool
    state_path: str | None
    task_secret: str | None


@dataclass(frozen=True)
class Config:
    role: str
    netuid: int
    subtensor: SubtensorConfig
    wallet: WalletConfig
    axon: AxonConfig
    model: ModelConfig
    logging: LoggingConfig
    metrics: MetricsConfig
    neuron: NeuronConfig
    miner: MinerConfig
    validator: ValidatorConfig
    sources: Mapping[str, str]  # option key -> "flag", "env", "file" or "default"

    @property
    def is_local_network(self) -> bool:
        network = self.subtensor.network
        return network in LOCAL_NETWORKS or network.startswith(("dev://", "dev:memory:"))

    def state_path(self) -> Path:
        """The validator's state file: the option, or one per wallet, hotkey and netuid."""
        if self.validator.state_path:
            return Path(self.validator.state_path).expanduser()
        return (
            Path(DEFAULT_STATE_DIR).expanduser()
            / self.wallet.name
            / self.wallet.hotkey
            / f"netuid{self.netuid}"
            / "validator_state.json"
        )

    def announced_ip(self) -> str:
        """Where validators should reach this miner; on a real network the user must say."""
        if self.axon.external_ip:
            return self.axon.external_ip
        if self.is_local_network:
            return "127.0.0.1"
        raise ConfigError(
            f"--axon.external_ip is required on network {self.subtensor.network!r}: give the "
            "public address validators can reach this miner at (or set SUBNET_AXON_EXTERNAL_IP)"
        )


def options_for(role: str) -> tuple[Option, ...]:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    return tuple(option for option in OPTIONS if role in option.roles)


def _help_text(option: Option) -> str:
    default = option.default_text or ("off" if option.default is None else repr(option.default))
    return f"{option.help} (default: {default}; env: {option.env})"


def build_parser(role: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The argparse parser of one neuron; absent flags stay absent so precedence can apply."""
    parser = argparse.ArgumentParser(
        prog=prog or f"subnet {role}",
        description=f"Run a {role} neuron. Options come from flags, then environment "
        f"variables ({ENV_PREFIX}*), then the --config file, then defaults.",
        argument_default=argparse.SUPPRESS,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"YAML file of options, nested (wallet: {{name: x}}) or dotted (wallet.name: x) "
        f"(env: {CONFIG_ENV})",
    )
    for option in options_for(role):
        if option.type is bool:
            parser.add_argument(
                option.flag, action=argparse.BooleanOptionalAction, help=_help_text(option)
            )
        else:
            metavar = option.key.split(".")[-1].upper()
            parser.add_argument(option.flag, type=str, metavar=metavar, help=_help_text(option))
    return parser


def _coerce(option: Option, raw: Any, source: str) -> Any:
    """Turn a flag, env or file value into the option's type, or say what is wrong."""
    where = f"{option.flag} (from {source})"
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none", "null")):
        if option.default is None:
            return None
        raise ConfigError(f"{where} needs a value: {_TYPE_WORDS[option.type]}")
    try:
        if option.type is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if option.type is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        if option.type is float:
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        return str(raw)
    except ValueError:
        raise ConfigError(f"{where}: {raw!r} is not {_TYPE_WORDS[option.type]}") from None


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def parse_config_file(text: str, path: str = "config file") -> dict[str, Any]:
    """The options of a YAML config file as {option key: raw value}; unknown keys are errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path} must be a mapping of option names to values")
    values: dict[str, Any] = {}
    for key, value in _flatten(data).items():
        canonical = "model" if key == "model.name" else key
        if canonical not in OPTIONS_BY_KEY:
            raise ConfigError(
                f"{path}: unknown option {key!r}; known options are the flag names without "
                "dashes, e.g. wallet.name or validator.timeout"
            )
        values[canonical] = value
    return values


def read_config_file(path: str) -> dict[str, Any]:
    file = Path(path).expanduser()
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    return parse_config_file(text, path)


def _assign(tree: dict[str, Any], field: tuple[str, ...], value: Any) -> None:
    for part in field[:-1]:
        tree = tree.setdefault(part, {})
    tree[field[-1]] = value


def load_config(
    role: str,
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    read_file: Callable[[str], dict[str, Any]] = read_config_file,
    prog: str | None = None,
) -> Config:
    """Resolve every option of `role` by precedence: flag, environment, file, default.

    argparse exits on `--help` and on unknown flags, as users expect from a command line;
    bad values raise `ConfigError`.
    """
    env = os.environ if env is None else env
    flags = vars(build_parser(role, prog).parse_args(list(argv or [])))
    config_path = flags.pop("config", None) or env.get(CONFIG_ENV)
    file_values = read_file(config_path) if config_path else {}

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in OPTIONS:
        if role in option.roles and option.key in flags:
            raw, source = flags[option.key], "flag"
        elif role in option.roles and option.env in env:
            raw, source = env[option.env], f"env {option.env}"
        elif role in option.roles and option.key in file_values:
            raw, source = file_values[option.key], f"file {config_path}"
        else:
            values[option.key], sources[option.key] = option.default, "default"
            continue
        value = _coerce(option, raw, source)
        problem = option.check(value) if option.check and value is not None else None
        if problem:
            raise ConfigError(f"{option.flag} (from {source}) {problem}; got {value!r}")
        values[option.key], sources[option.key] = value, source.split(" ")[0]

    tree: dict[str, Any] = {}
    for option in OPTIONS:
        _assign(tree, option.field, values[option.key])
    return Config(
        role=role,
        netuid=tree["netuid"],
        subtensor=SubtensorConfig(**tree["subtensor"]),
        wallet=WalletConfig(**tree["wallet"]),
        axon=AxonConfig(**tree["axon"]),
        model=ModelConfig(**tree["model"]),
        logging=LoggingConfig(**tree["logging"]),
        metrics=MetricsConfig(**tree["metrics"]),
        neuron=NeuronConfig(**tree["neuron"]),
        miner=MinerConfig(**tree["miner"]),
        validator=ValidatorConfig(**tree["validator"]),
        sources=sources,
    )
