"""One typed configuration for both neurons, from flags, environment, a YAML file and defaults.

Every option is declared once, in `neurons.options.OPTIONS`, with its type, default, help text
and the neurons it applies to. From that one table come the argparse flags (in the dotted convention subnet
users know: `--wallet.name`, `--subtensor.network`, ...), the environment variable names
(`SUBNET_` + the dotted name upper-cased with `.` -> `_`), the keys accepted in the YAML file
(`--config PATH`, nested mappings or dotted keys) and the `--help` text.

Precedence, per option: command-line flag (or one of its aliases), then the `SUBNET_`
environment variable, then its `BT_*` aliases, then config file, then the default. Two flags
for one option with different values are refused rather than one silently winning.
`load_config` is pure given its arguments (argv, an environment mapping and the file's text
are all passed in), so the precedence rules are tested without touching the process.
"""

from __future__ import annotations

import argparse
import difflib
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
    external_port: int | None
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
    request_name: str | None
    device: str
    dtype: str
    threads: int
    max_batch: int
    backend_url: str | None
    served_name: str | None
    backend_api_key: str | None

    @property
    def wire_name(self) -> str:
        """The name requests carry: `--model.request_name`, else `--model`."""
        return self.request_name or self.name or ""


@dataclass(frozen=True)
class LoggingConfig:
    debug: bool
    trace: bool
    info: bool
    logging_dir: str | None

    @property
    def level(self) -> str:
        """The most detailed level asked for: TRACE, DEBUG, else INFO."""
        if self.trace:
            return "TRACE"
        return "DEBUG" if self.debug else "INFO"


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
    miner_min_stake: float
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
    near_tie_share: float
    near_tie_window: int
    state_path: str | None
    task_secret: str | None


@dataclass(frozen=True)
class GatewayConfig:
    port: int | None
    ip: str
    path: str | None
    verify_share: float
    organic_share: float
    first_token_timeout: float
    timeout: float
    attempts: int
    gpu_hour_price: float | None


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
    gateway: GatewayConfig
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

    def gateway_path(self) -> Path:
        """The gateway's folder: the option, or `gateway/` beside the default state file."""
        if self.gateway.path:
            return Path(self.gateway.path).expanduser()
        return gateway_folder(self.wallet.name, self.wallet.hotkey, self.netuid)

    def announced_port(self, listening_port: int) -> int:
        """The port validators should use: `--axon.external_port`, else the one listened on."""
        return self.axon.external_port or listening_port

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


def gateway_folder(wallet_name: str, hotkey: str, netuid: int) -> Path:
    """Where a validator's gateway keeps its SQLite file unless `--gateway.path` says."""
    return (
        Path(DEFAULT_STATE_DIR).expanduser() / wallet_name / hotkey / f"netuid{netuid}" / "gateway"
    )


def options_for(role: str) -> tuple[Option, ...]:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    return tuple(option for option in OPTIONS if role in option.roles)


def _help_text(option: Option) -> str:
    default = option.default_text or ("off" if option.default is None else repr(option.default))
    also = f"also {', '.join(option.aliases)}; " if option.aliases else ""
    envs = ", ".join((option.env, *option.env_aliases))
    return f"{option.help} (default: {default}; {also}env: {envs})"


def _alias_dest(option: Option, alias: str) -> str:
    return f"{option.key}@{alias}"


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"subnetkit {version('subnetkit')}"
    except PackageNotFoundError:  # a source checkout that was never installed
        return "subnetkit (not installed)"


class NeuronArgumentParser(argparse.ArgumentParser):
    """An unknown or misspelt flag is one line naming the closest known flag (or the neuron
    that takes it), not the whole usage text."""

    other_roles: Mapping[str, str] = {}  # flag of the other neuron -> that neuron

    def error(self, message: str):
        if message.startswith("unrecognized arguments: "):
            unknown = message.removeprefix("unrecognized arguments: ").split()
            flag = next((f for f in unknown if f.startswith("-")), unknown[0]).split("=")[0]
            if flag in self.other_roles:
                message = (
                    f"{flag} is a {self.other_roles[flag]} option; this neuron does not take it"
                )
            else:
                known = [s for action in self._actions for s in action.option_strings]
                close = difflib.get_close_matches(flag, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                message = f"unknown option {flag}{hint}; `{self.prog} --help` lists every option"
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(role: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The argparse parser of one neuron; absent flags stay absent so precedence can apply."""
    parser = NeuronArgumentParser(
        prog=prog or f"subnet {role}",
        description=f"Run a {role} neuron. Options come from flags, then environment "
        f"variables ({ENV_PREFIX}*, then bittensor's BT_*), then the --config file, then "
        "defaults.",
        argument_default=argparse.SUPPRESS,
        allow_abbrev=False,
    )
    parser.other_roles = {
        flag: next(iter(option.roles))
        for option in OPTIONS
        if role not in option.roles
        for flag in (option.flag, *option.aliases)
    }
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"YAML file of options, nested (wallet: {{name: x}}) or dotted (wallet.name: x) "
        f"(env: {CONFIG_ENV})",
    )
    for option in options_for(role):
        flags = [(option.flag, option.key, _help_text(option))]
        flags += [
            (alias, _alias_dest(option, alias), argparse.SUPPRESS) for alias in option.aliases
        ]
        for flag, dest, text in flags:
            if option.type is bool:
                parser.add_argument(
                    flag, dest=dest, action=argparse.BooleanOptionalAction, help=text
                )
            else:
                metavar = option.key.split(".")[-1].upper()
                parser.add_argument(flag, dest=dest, type=str, metavar=metavar, help=text)
    return parser


def _flag_value(option: Option, flags: Mapping[str, Any]) -> tuple[Any, str] | None:
    """The option's value from its flag or its aliases, and which flag gave it; two flags
    for the same option with different values are refused."""
    given = [(option.flag, flags[option.key])] if option.key in flags else []
    given += [
        (alias, flags[_alias_dest(option, alias)])
        for alias in option.aliases
        if _alias_dest(option, alias) in flags
    ]
    if not given:
        return None
    if len({str(value) for _, value in given}) > 1:
        shown = ", ".join(f"{flag} {value}" for flag, value in given)
        raise ConfigError(f"{shown} set the same option to different values: give it once")
    flag, value = given[0]
    return value, "flag" if flag == option.flag else f"flag {flag}"


def _env_value(option: Option, env: Mapping[str, str]) -> tuple[str, str] | None:
    for name in (option.env, *option.env_aliases):
        if name in env:
            return env[name], f"env {name}"
    return None


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
        found = None
        if role in option.roles:
            found = _flag_value(option, flags) or _env_value(option, env)
            if found is None and option.key in file_values:
                found = file_values[option.key], f"file {config_path}"
        if found is None:
            values[option.key], sources[option.key] = option.default, "default"
            continue
        raw, source = found
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
        gateway=GatewayConfig(**tree["gateway"]),
        sources=sources,
    )
