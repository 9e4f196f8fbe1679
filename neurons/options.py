"""Every option of both neurons, declared once: its type, default, help and neurons.

From this table come the flags, the environment variable names (`SUBNET_` + the dotted name
upper-cased, `.` -> `_`), the keys of the YAML config file and the `--help` text (see
neurons/config.py, which resolves them into a typed `Config`).

Operators arrive with flags and variables from the subnet template and btcli (and the
bittensor SDK's `BT_*` variables). Where one of those means the same thing as an option here,
it is that option's alias: `--subtensor.chain_endpoint ws://...` is `--subtensor.network`,
`BT_WALLET_NAME` is `SUBNET_WALLET_NAME`. Each alias names where it comes from below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain.api import network_problem
from inference.types import VerifyConfig
from neurons.rewards import DEFAULT_SPEED_WEIGHT, MAX_SPEED_WEIGHT
from protocol.connections import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_KEEP_ALIVE_S,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PER_ADDRESS,
)

ENV_PREFIX = "SUBNET_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
MINER = "miner"
VALIDATOR = "validator"
ROLES = (MINER, VALIDATOR)
BOTH = frozenset(ROLES)

DEFAULT_WALLET_PATH = "~/.bittensor/wallets"
DEFAULT_STATE_DIR = "~/.subnetkit"
# The networks where a miner may announce 127.0.0.1: everything that runs on this machine.
LOCAL_NETWORKS = ("dev", "dev:memory", "local")
MAX_PORT = 65_535


@dataclass(frozen=True)
class Option:
    """One option: `key` is the dotted flag name without dashes (`wallet.name`)."""

    key: str
    type: type
    default: Any
    help: str
    roles: frozenset[str] = BOTH
    # Validation: returns an error text (what is wrong and what is allowed) or None.
    check: Callable[[Any], str | None] | None = None
    default_text: str | None = None  # shown in --help when the default is computed later
    aliases: tuple[str, ...] = ()  # other flags for the same option (template, btcli)
    env_aliases: tuple[str, ...] = ()  # other variables for it (bittensor's BT_*), in order

    @property
    def flag(self) -> str:
        return "--" + self.key

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.key.upper().replace(".", "_")

    @property
    def field(self) -> tuple[str, ...]:
        """Where the value lives in `Config`: `--model` is `config.model.name`."""
        parts = tuple(self.key.split("."))
        return (*parts, "name") if parts == ("model",) else parts


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def _port(value: Any) -> str | None:
    return None if 0 <= value <= MAX_PORT else f"must be a TCP port between 0 and {MAX_PORT}"


def _optional_port(value: Any) -> str | None:
    return None if value is None else _port(value)


def _fraction(value: Any) -> str | None:
    return None if 0 < value <= 1 else "must be in (0, 1]"


def _share(value: Any) -> str | None:
    return None if 0 <= value <= 1 else "must be between 0 and 1"


def _speed_share(value: Any) -> str | None:
    # The speed share must not exceed the share for being correct (see neurons/rewards.py).
    if 0 <= value <= MAX_SPEED_WEIGHT:
        return None
    return f"must be between 0 and {MAX_SPEED_WEIGHT:g}"


def _network(value: Any) -> str | None:
    return network_problem(value)


def _choice(*allowed: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


V = frozenset({VALIDATOR})
M = frozenset({MINER})

# Where the aliases come from. The subnet template (opentensor/bittensor-subnet-template,
# template/utils/config.py) and the bittensor SDK 9.x (bittensor/core/settings.py DEFAULTS,
# bittensor/core/config.py) give the dotted flags and BT_* variables; btcli 9.x gives the
# dashed wallet flags and --network (see chain/btcli.py); the SDK 11's own btcli reads
# BT_NETWORK and BT_WALLET.

OPTIONS: tuple[Option, ...] = (
    # -- where: chain, subnet, identity
    Option("netuid", int, 1, "subnet id to mine or validate on", check=_non_negative),
    Option(
        "subtensor.network",
        str,
        "dev",
        "chain to use: finney, test, local, a ws:// or wss:// URL, dev (the dev chain node on "
        "127.0.0.1:9946), dev://HOST:PORT, or dev:memory (in-process, for tests)",
        check=_network,
        aliases=("--subtensor.chain_endpoint", "--network"),
        env_aliases=("BT_SUBTENSOR_NETWORK", "BT_SUBTENSOR_CHAIN_ENDPOINT", "BT_NETWORK"),
    ),
    Option(
        "wallet.name",
        str,
        "default",
        "coldkey wallet name",
        aliases=("--wallet-name", "--wallet_name"),
        env_aliases=("BT_WALLET_NAME", "BT_WALLET"),
    ),
    Option(
        "wallet.hotkey",
        str,
        "default",
        "hotkey name inside the wallet",
        aliases=("--wallet-hotkey", "--wallet_hotkey"),
        env_aliases=("BT_WALLET_HOTKEY",),
    ),
    Option(
        "wallet.path",
        str,
        DEFAULT_WALLET_PATH,
        "folder holding the wallets",
        aliases=("--wallet-path", "--wallet_path"),
        env_aliases=("BT_WALLET_PATH",),
    ),
    # -- the miner's server
    Option(
        "axon.ip",
        str,
        "0.0.0.0",
        "address the miner's server binds to",
        roles=M,
        env_aliases=("BT_AXON_IP",),
    ),
    Option(
        "axon.port",
        int,
        8091,
        "port the miner's server listens on (0: any free port)",
        M,
        _port,
        env_aliases=("BT_AXON_PORT",),
    ),
    Option(
        "axon.external_ip",
        str,
        None,
        "address announced on chain for validators to reach this miner",
        roles=M,
        default_text="127.0.0.1 on dev/local networks; required elsewhere",
        env_aliases=("BT_AXON_EXTERNAL_IP",),
    ),
    Option(
        "axon.external_port",
        int,
        None,
        "port announced on chain, when validators reach this miner through another port "
        "(behind NAT or a port forward)",
        M,
        _optional_port,
        default_text="the port the server listens on",
        env_aliases=("BT_AXON_EXTERNAL_PORT",),
    ),
    # -- what an unauthenticated client may hold on the miner's server (protocol/connections.py)
    Option(
        "axon.max_connections",
        int,
        DEFAULT_MAX_CONNECTIONS,
        "most client connections the server holds; at the limit, the one that has waited "
        "longest without a complete request is closed to make room for a new one (the open-file "
        "limit is raised to fit, or this is lowered with a warning)",
        M,
        _positive,
    ),
    Option(
        "axon.max_connections_per_address",
        int,
        DEFAULT_MAX_PER_ADDRESS,
        "most connections one IP address may hold; more are closed at once",
        M,
        _positive,
    ),
    Option(
        "axon.header_timeout",
        float,
        DEFAULT_HEADER_TIMEOUT_S,
        "seconds a client has to send a complete request head, from connecting or from the "
        "previous answer",
        M,
        _positive,
    ),
    Option(
        "axon.body_timeout",
        float,
        DEFAULT_BODY_TIMEOUT_S,
        "seconds a client has to send a request body once its head arrived",
        M,
        _positive,
    ),
    Option(
        "axon.keep_alive",
        float,
        DEFAULT_KEEP_ALIVE_S,
        "seconds an idle connection stays open between requests",
        M,
        _positive,
    ),
    # -- the model
    Option(
        "model",
        str,
        None,
        "Hugging Face model name or local path (the tiny test model: python -m inference.tiny "
        "--out models/tiny); a validator must use the subnet's model to verify",
        default_text="required",
    ),
    Option(
        "model.request_name",
        str,
        None,
        "the model's name in requests (the subnet's model name): a miner answers only requests "
        "that name it (any other is refused 404 model_not_found, as OpenAI does) and a "
        "validator's tasks name it; give it when --model is a local copy",
        default_text="the --model value",
    ),
    Option(
        "model.device",
        str,
        "auto",
        "cpu, cuda, cuda:N, or auto (CUDA if present)",
        aliases=("--neuron.device",),
    ),
    Option(
        "model.dtype",
        str,
        "auto",
        "weights dtype",
        check=_choice("auto", "float32", "float16", "bfloat16"),
    ),
    Option(
        "model.threads",
        int,
        0,
        "CPU threads the model may use (0: torch's default, every core); give 1 when several "
        "neurons share a small machine, so they do not contend for the same cores",
        check=_non_negative,
    ),
    Option("model.max_batch", int, 8, "most requests generated in one batch", M, _positive),
    Option(
        "model.backend_url",
        str,
        None,
        "serve from an external OpenAI-compatible server (vLLM, SGLang) at this base URL "
        "instead of loading the model here; it must return token ids and raw logprobs",
        roles=M,
    ),
    Option(
        "model.served_name",
        str,
        None,
        "the name the backend serves the model under (vLLM's --served-model-name)",
        roles=M,
        default_text="--model",
    ),
    Option(
        "model.backend_api_key",
        str,
        None,
        "API key the backend expects (vLLM's --api-key); prefer the env var",
        roles=M,
    ),
    # -- logs and metrics
    Option(
        "logging.debug",
        bool,
        False,
        "debug logs (one line per request as well)",
        env_aliases=("BT_LOGGING_DEBUG",),
    ),
    Option(
        "logging.trace",
        bool,
        False,
        "trace logs: the most detailed level (loguru's TRACE, below debug)",
        env_aliases=("BT_LOGGING_TRACE",),
    ),
    Option(
        "logging.info",
        bool,
        False,
        "info logs (the default level; the template's flag for it)",
        env_aliases=("BT_LOGGING_INFO",),
    ),
    Option(
        "logging.logging_dir",
        str,
        None,
        "also write the log to ROLE-WALLET-HOTKEY.log in this folder (rotated at "
        "100 MB, the last 5 kept)",
        env_aliases=("BT_LOGGING_LOGGING_DIR",),
    ),
    Option(
        "metrics.port",
        int,
        None,
        "serve Prometheus metrics at http://127.0.0.1:PORT/metrics (0: any free port)",
        check=_optional_port,
        default_text="off",
    ),
    Option("metrics.ip", str, "127.0.0.1", "address the metrics endpoint binds to"),
    # -- lifecycle
    Option("neuron.sync_every", int, 5, "re-read the metagraph every N blocks", check=_positive),
    Option(
        "neuron.shutdown_timeout",
        float,
        10.0,
        "seconds in-flight work may take to finish after SIGINT/SIGTERM",
        check=_non_negative,
    ),
    # -- miner policy
    Option(
        "miner.require_permit",
        bool,
        True,
        "only answer callers holding a validator permit",
        roles=M,
        aliases=("--blacklist.force_validator_permit",),
    ),
    Option(
        "miner.min_stake",
        float,
        0.0,
        "least stake a caller must hold, in whole tokens (TAO; alpha on dynamic subnets)",
        M,
        _non_negative,
    ),
    Option(
        "miner.max_concurrent",
        int,
        8,
        "requests the model works on at once (the engine batches them; keep it at least "
        "--model.max_batch)",
        M,
        _positive,
    ),
    Option(
        "miner.queue_size",
        int,
        32,
        "admitted requests waiting for the model; when full, a higher-stake caller displaces "
        "the lowest and the rest get 429",
        M,
        _non_negative,
    ),
    # -- validator loop
    Option(
        "validator.round_interval",
        float,
        12.0,
        "seconds from the start of one round to the start of the next",
        V,
        _non_negative,
    ),
    Option(
        "validator.miner_min_stake",
        float,
        0.0,
        "least stake (TAO) the subnet's miners ask of a validator (their --miner.min_stake); "
        "checked at start, with the validator permit they also ask for",
        V,
        _non_negative,
    ),
    Option(
        "validator.sample_size",
        int,
        64,
        "most miners queried in one round; beyond that miners are queried in rotation",
        V,
        _positive,
        aliases=("--neuron.sample_size",),
    ),
    Option(
        "validator.timeout",
        float,
        12.0,
        "seconds a miner has to answer a task",
        V,
        _positive,
        aliases=("--neuron.timeout",),
    ),
    Option(
        "validator.tasks_per_miner",
        int,
        2,
        "tasks each queried miner gets per round, sent at once; the round earns only if every "
        "answer verifies, and throughput is their tokens over the slowest one's latency",
        V,
        _positive,
    ),
    Option(
        "validator.verify_batch",
        int,
        32,
        "most answers verified in one go; answers are verified as they arrive, while slower "
        "miners are still working (lower it if verification runs out of GPU memory)",
        V,
        _positive,
    ),
    Option(
        "validator.max_tokens",
        int,
        64,
        "upper bound of the max_tokens a task asks for (tasks vary below it)",
        V,
        _positive,
    ),
    Option(
        "validator.weights_every",
        int,
        100,
        "set weights every N blocks (never faster than the subnet's weights rate limit)",
        V,
        _positive,
    ),
    Option(
        "validator.alpha",
        float,
        0.1,
        "moving-average factor: new score = alpha * reward + (1 - alpha) * old score",
        V,
        _fraction,
        aliases=("--neuron.moving_average_alpha",),
    ),
    Option(
        "validator.speed_weight",
        float,
        DEFAULT_SPEED_WEIGHT,
        f"share of a verified answer's reward that depends on its speed (at most "
        f"{MAX_SPEED_WEIGHT:g}: correctness always earns at least as much as speed)",
        V,
        _speed_share,
    ),
    Option(
        "validator.reference_tps",
        float,
        0.0,
        "throughput (tokens/s) that earns the full speed share; 0: the round's fastest verified",
        V,
        _non_negative,
    ),
    Option(
        "validator.reset_on_failure",
        bool,
        True,
        "a signed answer that fails verification (proof of a wrong answer) resets that miner's "
        "score to zero; timeouts and refusals only earn a zero reward",
        roles=V,
    ),
    Option(
        "validator.near_tie_share",
        float,
        VerifyConfig.near_tie_share,
        "a miner whose answers' tokens were not exactly the sampler's choice (near-ties, within "
        "the verifier's margin) more often than this over its last near_tie_window tokens earns "
        "nothing until its share falls back (no reset: that is for proof)",
        V,
        _fraction,
    ),
    Option(
        "validator.near_tie_window",
        int,
        VerifyConfig.near_tie_window,
        "tokens over which each miner's near-tie share is measured",
        V,
        _positive,
    ),
    Option(
        "validator.state_path",
        str,
        None,
        "JSON file with the validator's scores, saved after every round",
        roles=V,
        default_text=f"{DEFAULT_STATE_DIR}/WALLET/HOTKEY/netuidN/validator_state.json",
    ),
    Option(
        "validator.task_secret",
        str,
        None,
        "secret mixed into the task seed so miners cannot predict tasks (prefer the env var)",
        roles=V,
        default_text="random, kept in the state file",
    ),
    # -- the validator's OpenAI-compatible gateway (neurons/gateway/)
    Option(
        "gateway.port",
        int,
        None,
        "serve the OpenAI-compatible gateway for paying users on this port (0: any free port)",
        V,
        _optional_port,
        default_text="off; 8000 for `subnet gateway`",
    ),
    Option("gateway.ip", str, "127.0.0.1", "address the gateway binds to", roles=V),
    Option(
        "gateway.path",
        str,
        None,
        "folder of the gateway's SQLite file (API keys, usage, miner speeds)",
        roles=V,
        default_text=f"{DEFAULT_STATE_DIR}/WALLET/HOTKEY/netuidN/gateway",
    ),
    Option(
        "gateway.verify_share",
        float,
        0.1,
        "share of organic answers verified (off the request path) with the validator's model",
        V,
        _share,
    ),
    Option(
        "gateway.organic_share",
        float,
        0.25,
        "share of synthetic tasks whose prompt is a recent organic prompt (never keys or user "
        "fields), so synthetic and organic traffic come from one distribution",
        V,
        _share,
    ),
    Option(
        "gateway.first_token_timeout",
        float,
        10.0,
        "seconds a miner has to send its first token before the request is retried elsewhere",
        V,
        _positive,
    ),
    Option(
        "gateway.timeout",
        float,
        60.0,
        "seconds a miner has to finish one answer",
        V,
        _positive,
    ),
    Option(
        "gateway.attempts",
        int,
        3,
        "miners one request may be tried on (an error, a refusal or no first token in time "
        "moves it to the next)",
        V,
        _positive,
    ),
    Option(
        "gateway.gpu_hour_price",
        float,
        None,
        "what one GPU hour costs you, to report the cost per million tokens in "
        "`subnet gateway usage`",
        V,
        _non_negative,
    ),
)
OPTIONS_BY_KEY = {option.key: option for option in OPTIONS}
