"""Many epochs of a scenario through the real epoch: who earns what, epoch after epoch.

A scenario is plain data (the schema of a YAML/JSON file): neurons with a role and stake,
miners with a true quality, validators with a behaviour, hyperparameters, and a number of
epochs. `run_simulation` is pure: scenario in, per-epoch incentive, dividends and emission out.

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
EXTRA_HYPERPARAMETERS = {"max_weight_limit_u16": U16_MAX, "min_allowed_weights": 1}


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
        """One CSV row per epoch x neuron: epoch, uid, role, incentive, dividends, emission."""
        roles = [nrn.role for nrn in self.scenario.neurons]
        for e in range(self.incentive.shape[0]):
            for uid, role in enumerate(roles):
                yield (
                    e,
                    uid,
                    role,
                    float(self.incentive[e, uid]),
                    float(self.dividends[e, uid]),
                    int(self.emission[e, uid]),
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


def _params(raw) -> tuple[EpochParams, dict]:
    if not isinstance(raw, dict):
        raise ScenarioError("scenario field 'hyperparameters': expected an object")
    values, extra = {}, dict(EXTRA_HYPERPARAMETERS)
    for key, value in raw.items():
        if key in extra:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ScenarioError(f"scenario field 'hyperparameters.{key}': expected an int")
            extra[key] = value
            continue
        spec = PARAM_FIELDS.get(key)
        if spec is None or key == "owner_uid":
            raise ScenarioError(f"scenario field 'hyperparameters.{key}': not a hyperparameter")
        want = bool if isinstance(spec.default, bool) else int
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise ScenarioError(
                f"scenario field 'hyperparameters.{key}': expected {want.__name__}, got {value!r}"
            )
        values[key] = value
    return EpochParams(**values), extra


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
    emission = _field(data, "emission_per_epoch", "", (int,), "raw units >= 0", 0)
    if emission < 0:
        raise ScenarioError("scenario field 'emission_per_epoch': expected raw units >= 0")
    params, extra = _params(data.get("hyperparameters", {}))
    neurons = _neurons(data.get("neurons"), "neurons")
    return Scenario(name, tuple(neurons), params, count, seed, emission, **extra)


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
