"""Many epochs of a scenario through the real epoch: who earns what, epoch after epoch.

A scenario is plain data (the schema of a YAML/JSON file): neurons with a role and stake,
miners with a true quality, validators with a behaviour, hyperparameters, and a number of
epochs. `run_simulation` is pure: scenario in, per-epoch incentive, dividends and emission out.

Hyperparameters have the names and units of `subnet owner set` (the chain's: `kappa` as a
u16, `bonds_moving_avg` per million, `activity_cutoff_factor` per mille of tempo,
`yuma3_enabled`, ...), so what a simulation shows can be set as it is; `OWNER_NAMES` maps each
to the epoch parameter it sets. Amounts (stake, `emission_per_epoch`, `stake_threshold`) are
whole alpha, as the chain shows them in TAO units.

Validator behaviours:
- honest: the miners' true quality with relative Gaussian noise, q·(1 + noise·N(0, 1)) clipped
  at 0 (`noise`, default 0.05), so a worthless miner (q = 0) gets no weight;
- lazy: copies the consensus of the previous epoch (no work of its own);
- colluding: all weight on one miner (`target`, a miner's name), whatever its quality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from incentive.consensus import is_topk_nonzero
from incentive.emission import OWNER_CUT_U16, alpha_block_emission, split_block_emission
from incentive.epoch import run_epoch
from incentive.types import U16_MAX, EpochInput, EpochParams, SparseRows
from incentive.weights import conform_weights, max_upscale_u16

ROLES = ("validator", "miner")
BEHAVIOURS = ("honest", "lazy", "colluding")
DEFAULT_NOISE = 0.05
DEFAULT_EPOCHS = 50
RAW_PER_ALPHA = 1_000_000_000
MAX_EPOCHS = 100_000
PARAM_FIELDS = {f.name: f for f in fields(EpochParams)}
# `subnet owner set`'s name of each hyperparameter an epoch reads -> the EpochParams field.
OWNER_NAMES = {
    "tempo": "tempo",
    "kappa": "kappa_u16",
    "bonds_moving_avg": "bonds_moving_average",
    "bonds_penalty": "bonds_penalty_u16",
    "yuma3_enabled": "yuma3",
    "liquid_alpha_enabled": "liquid_alpha",
    "alpha_low": "alpha_low_u16",
    "alpha_high": "alpha_high_u16",
    "alpha_sigmoid_steepness": "alpha_sigmoid_steepness",
    "max_validators": "max_allowed_validators",
}
# Owner hyperparameters a simulation does not model, and why.
NOT_SIMULATED = {
    "commit_reveal_weights_enabled": "commit-reveal only delays when weights count; each "
    "simulated epoch uses the weights set for it",
}
# Names that conform weights rather than set an epoch parameter, and their defaults.
WEIGHT_LIMITS = {"max_weights_limit": U16_MAX, "min_allowed_weights": 1}
# The activity cutoff is `activity_cutoff_factor` per mille of the tempo, as on the chain
# (chain.types.activity_cutoff; incentive/ does not import chain/). Its default is a new
# subnet's, the chain's 13,889 per mille: 5,000 blocks at tempo 360.
ACTIVITY_CUTOFF_FACTOR = "activity_cutoff_factor"
DEFAULT_ACTIVITY_CUTOFF_FACTOR = 13_889
PER_MILLE = 1_000
# The chain-wide StakeThreshold (not an owner's hyperparameter), in whole alpha.
STAKE_THRESHOLD = "stake_threshold"
HYPERPARAMETER_NAMES = (*OWNER_NAMES, *WEIGHT_LIMITS, ACTIVITY_CUTOFF_FACTOR, STAKE_THRESHOLD)


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the field and what was expected."""


@dataclass(frozen=True)
class Neuron:
    name: str
    role: str
    stake: int  # raw units (scenario files give alpha; 1 alpha = 1e9 raw)
    quality: float = 0.0  # miners: the true value of their work, in [0, 1]
    behaviour: str = "honest"  # validators
    noise: float = DEFAULT_NOISE
    target: str | None = None  # colluding validators: the miner they boost


@dataclass(frozen=True)
class Scenario:
    name: str
    neurons: tuple[Neuron, ...]
    params: EpochParams
    epochs: int
    seed: int = 0
    emission_per_epoch: int = 0  # raw units through Yuma each epoch; 0 = from the tempo
    max_weight_limit_u16: int = U16_MAX
    min_allowed_weights: int = 1
    hyperparameters: tuple[tuple[str, int | bool | float], ...] = ()  # as given, owner names

    @property
    def n(self) -> int:
        return len(self.neurons)


@dataclass(frozen=True)
class SimulationResult:
    scenario: Scenario
    incentive: np.ndarray  # (epochs, n) proportions
    dividends: np.ndarray  # (epochs, n) proportions
    emission: np.ndarray  # (epochs, n) raw units
    consensus: np.ndarray  # (epochs, n) proportions

    def rows(self):
        """One CSV row per epoch x neuron: epoch, uid, name, role, stake_alpha, incentive,
        dividends, emission_alpha (amounts in whole alpha)."""
        neurons = self.scenario.neurons
        for e in range(self.incentive.shape[0]):
            for uid, nrn in enumerate(neurons):
                yield (
                    e,
                    uid,
                    nrn.name,
                    nrn.role,
                    nrn.stake / RAW_PER_ALPHA,
                    float(self.incentive[e, uid]),
                    float(self.dividends[e, uid]),
                    int(self.emission[e, uid]) / RAW_PER_ALPHA,
                )


def _field(data: dict, key: str, where: str, kinds, expected: str, default=None):
    if key not in data:
        if default is not None:
            return default
        raise ScenarioError(f"scenario field '{where}{key}': missing; expected {expected}")
    value = data[key]
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ScenarioError(f"scenario field '{where}{key}': expected {expected}, got {value!r}")
    return value


def _neurons(raw, where: str) -> list[Neuron]:
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f"scenario field '{where}': expected a non-empty list of neurons")
    out: list[Neuron] = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]."
        if not isinstance(item, dict):
            raise ScenarioError(f"scenario field '{where}[{i}]': expected an object")
        known = {"name", "role", "stake", "quality", "behaviour", "noise", "target", "count"}
        unknown = set(item) - known
        if unknown:
            raise ScenarioError(f"scenario field '{at}{sorted(unknown)[0]}': not a neuron field")
        role = _field(item, "role", at, (str,), "'validator' or 'miner'")
        if role not in ROLES:
            raise ScenarioError(f"scenario field '{at}role': expected 'validator' or 'miner'")
        count = _field(item, "count", at, (int,), "a positive integer", 1)
        stake = _field(item, "stake", at, (int, float), "a non-negative stake", 0)
        quality = _field(item, "quality", at, (int, float), "a quality in [0, 1]", 0.0)
        noise = _field(item, "noise", at, (int, float), "a non-negative noise", DEFAULT_NOISE)
        behaviour = _field(item, "behaviour", at, (str,), "honest, lazy or colluding", "honest")
        if count < 1:
            raise ScenarioError(f"scenario field '{at}count': expected a positive integer")
        if not (math.isfinite(stake) and stake >= 0):
            raise ScenarioError(f"scenario field '{at}stake': expected a non-negative number")
        if not (math.isfinite(quality) and 0.0 <= quality <= 1.0):
            raise ScenarioError(f"scenario field '{at}quality': expected a number in [0, 1]")
        if not (math.isfinite(noise) and noise >= 0.0):
            raise ScenarioError(f"scenario field '{at}noise': expected a non-negative number")
        if behaviour not in BEHAVIOURS:
            raise ScenarioError(f"scenario field '{at}behaviour': expected one of {BEHAVIOURS}")
        target = item.get("target")
        if role == "validator" and behaviour == "colluding" and not isinstance(target, str):
            raise ScenarioError(f"scenario field '{at}target': a colluder needs a miner's name")
        base = _field(item, "name", at, (str,), "a name", f"{role}{i}")
        for k in range(count):
            name = base if count == 1 else f"{base}-{k}"
            raw = round(stake * RAW_PER_ALPHA)
            out.append(Neuron(name, role, raw, float(quality), behaviour, noise, target))
    names = [nrn.name for nrn in out]
    if len(set(names)) != len(names):
        raise ScenarioError(f"scenario field '{where}': neuron names must be unique")
    miners = {nrn.name for nrn in out if nrn.role == "miner"}
    for nrn in out:
        if nrn.target is not None and nrn.target not in miners:
            raise ScenarioError(f"scenario field '{where}': target {nrn.target!r} is not a miner")
    if not miners:
        raise ScenarioError(f"scenario field '{where}': expected at least one miner")
    if not any(nrn.role == "validator" for nrn in out):
        raise ScenarioError(f"scenario field '{where}': expected at least one validator")
    return out


NUMBER = (int, float)


def _hyperparameter(key: str, value, want):
    """`value` checked for hyperparameter `key`: a bool, an int or a number (NUMBER) >= 0."""
    words = {bool: "true or false", int: "an integer", NUMBER: "a number"}[want]
    if not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
        raise ScenarioError(
            f"scenario field 'hyperparameters.{key}': expected {words}, got {value!r}"
        )
    if want is not bool and not (math.isfinite(value) and value >= 0):
        raise ScenarioError(f"scenario field 'hyperparameters.{key}': expected {words} >= 0")
    return value


def _params(raw) -> tuple[EpochParams, dict, tuple]:
    """Epoch parameters, weight limits and the hyperparameters as given, from owner names."""
    if not isinstance(raw, dict):
        raise ScenarioError("scenario field 'hyperparameters': expected an object")
    renamed = {field: name for name, field in OWNER_NAMES.items() if field != name}
    renamed |= {"max_weight_limit_u16": "max_weights_limit", "min_stake": STAKE_THRESHOLD}
    renamed["activity_cutoff_blocks"] = ACTIVITY_CUTOFF_FACTOR
    renamed["commit_reveal"] = "commit_reveal_weights_enabled"
    values, limits = {}, dict(WEIGHT_LIMITS)
    factor, threshold = DEFAULT_ACTIVITY_CUTOFF_FACTOR, 0.0
    for key, value in raw.items():
        if key in renamed:
            raise ScenarioError(
                f"scenario field 'hyperparameters.{key}': use {renamed[key]!r}, the name "
                "`subnet owner set` takes (and its units)"
            )
        if key in NOT_SIMULATED:
            raise ScenarioError(
                f"scenario field 'hyperparameters.{key}': not simulated ({NOT_SIMULATED[key]})"
            )
        if key in OWNER_NAMES:
            field = OWNER_NAMES[key]
            want = bool if isinstance(PARAM_FIELDS[field].default, bool) else int
            values[field] = _hyperparameter(key, value, want)
        elif key in WEIGHT_LIMITS:
            limits[key] = _hyperparameter(key, value, int)
        elif key == ACTIVITY_CUTOFF_FACTOR:
            factor = _hyperparameter(key, value, int)
        elif key == STAKE_THRESHOLD:
            threshold = float(_hyperparameter(key, value, NUMBER))
        else:
            raise ScenarioError(
                f"scenario field 'hyperparameters.{key}': not a hyperparameter; known: "
                f"{', '.join(HYPERPARAMETER_NAMES)}"
            )
    tempo = values.get("tempo", PARAM_FIELDS["tempo"].default)
    values["activity_cutoff_blocks"] = max(1, factor * max(tempo, 1) // PER_MILLE)
    values["min_stake"] = round(threshold * RAW_PER_ALPHA)
    weight_limits = {
        "max_weight_limit_u16": limits["max_weights_limit"],
        "min_allowed_weights": limits["min_allowed_weights"],
    }
    return EpochParams(**values), weight_limits, tuple(raw.items())


def parse_scenario(data: dict, *, epochs: int | None = None) -> Scenario:
    """Validate a scenario dict (YAML/JSON schema); `epochs` overrides the file's count."""
    if not isinstance(data, dict):
        raise ScenarioError("scenario: expected an object with 'neurons' and 'hyperparameters'")
    unknown = set(data) - {
        "name",
        "description",
        "epochs",
        "seed",
        "neurons",
        "hyperparameters",
        "emission_per_epoch",
    }
    if unknown:
        raise ScenarioError(f"scenario field '{sorted(unknown)[0]}': not a scenario field")
    name = _field(data, "name", "", (str,), "a name", "scenario")
    count = epochs if epochs is not None else data.get("epochs", DEFAULT_EPOCHS)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_EPOCHS:
        raise ScenarioError(f"scenario field 'epochs': expected an integer in 1..{MAX_EPOCHS}")
    seed = _field(data, "seed", "", (int,), "an integer seed", 0)
    emission = _field(data, "emission_per_epoch", "", (int, float), "alpha >= 0", 0)
    if not (math.isfinite(emission) and emission >= 0):
        raise ScenarioError("scenario field 'emission_per_epoch': expected alpha >= 0")
    params, limits, given = _params(data.get("hyperparameters", {}))
    neurons = _neurons(data.get("neurons"), "neurons")
    raw_emission = round(emission * RAW_PER_ALPHA)
    return Scenario(
        name, tuple(neurons), params, count, seed, raw_emission, **limits, hyperparameters=given
    )


def epoch_emission(scenario: Scenario) -> int:
    """Raw units distributed by Yuma per epoch: the miners' and validators' share of `tempo`
    blocks of alpha at the start of the halving curve, unless the scenario sets it."""
    if scenario.emission_per_epoch:
        return scenario.emission_per_epoch
    split = split_block_emission(alpha_block_emission(0), OWNER_CUT_U16)
    return max(scenario.params.tempo, 1) * (split.server + split.validator + split.root)


def _validator_scores(nrn: Neuron, quality, miners, consensus, rng) -> np.ndarray:
    if nrn.behaviour == "honest":
        noisy = quality * (1.0 + nrn.noise * rng.standard_normal(quality.shape))
        return np.clip(noisy, 0.0, None) * miners
    if nrn.behaviour == "lazy":
        copied = consensus * miners
        return copied if copied.any() else miners.astype(np.float64)
    return np.zeros(quality.shape)  # colluding: filled in by the caller


def run_simulation(scenario: Scenario, mode: str = "float") -> SimulationResult:
    """Run every epoch of the scenario through `run_epoch`, chaining bonds and permits."""
    n, params = scenario.n, scenario.params
    rng = np.random.default_rng(scenario.seed)
    neurons = scenario.neurons
    names = {nrn.name: uid for uid, nrn in enumerate(neurons)}
    stake = np.array([nrn.stake for nrn in neurons], dtype=np.int64)
    quality = np.array([nrn.quality for nrn in neurons])
    miners = np.array([nrn.role == "miner" for nrn in neurons])
    validators = [uid for uid, nrn in enumerate(neurons) if nrn.role == "validator"]
    permit = is_topk_nonzero(stake, params.max_allowed_validators)
    bonds = SparseRows.empty(n)
    amount = epoch_emission(scenario)
    tempo = max(params.tempo, 1)
    consensus = np.zeros(n)
    out_i, out_d, out_e, out_c = (np.zeros((scenario.epochs, n)) for _ in range(4))
    for e in range(scenario.epochs):
        block = (e + 1) * tempo
        rows: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        for uid in validators:
            nrn = neurons[uid]
            scores = _validator_scores(nrn, quality, miners, consensus, rng)
            if nrn.behaviour == "colluding":
                scores[names[nrn.target]] = 1.0
            uids, weights = conform_weights(
                scores,
                n=n,
                max_weight_limit_u16=scenario.max_weight_limit_u16,
                min_allowed_weights=scenario.min_allowed_weights,
            )
            stored = max_upscale_u16(weights)
            rows[uid] = list(zip(uids.tolist(), stored.tolist(), strict=True))
        last_update = np.zeros(n, dtype=np.int64)
        last_update[validators] = block - 1
        inp = EpochInput(
            current_block=block,
            stake=stake,
            validator_permit=permit,
            weights=SparseRows.from_lists(rows, n),
            bonds=bonds,
            last_update=last_update,
            block_at_registration=np.zeros(n, dtype=np.int64),
            rao_emission=amount,
        )
        out = run_epoch(inp, params, mode)
        permit, bonds, consensus = out.validator_permit, out.bonds, out.consensus
        out_i[e], out_d[e], out_e[e], out_c[e] = (
            out.incentive,
            out.dividends,
            out.emission,
            out.consensus,
        )
    return SimulationResult(scenario, out_i, out_d, out_e.astype(np.int64), out_c)
