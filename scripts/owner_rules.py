"""The pure core of `subnet owner`: reading NAME VALUE pairs and checking them before any send.

`check_changes` runs the whole batch through the dev chain's own hyperparameter rules
(`chain.dev.subnets.set_hyperparameter`, which follow subtensor's admin-utils ranges and
consistency checks) on a scratch copy of the subnet, in order. So a batch is refused as a
whole, before anything is signed, with the chain's own error name and message: nothing
changes on the chain when any pair is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from chain import ChainError, Hyperparameters, rao_to_tao, to_rao
from chain.dev.params import DERIVED, PARAMS, GenesisConfig
from chain.dev.state import DevState, Neuron, Subnet
from chain.dev.subnets import set_hyperparameter

# Hyperparameters that are amounts: typed and shown in TAO, stored by the chain in RAO.
AMOUNTS = ("burn", "min_burn", "max_burn")
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
SUDO = "sudo"
OWNER = "owner"
DERIVED_BY_CHAIN = "derived"  # computed by the chain from other hyperparameters: nobody sets it


class OwnerInputError(ValueError):
    """Input the user must fix; the message says what. Nothing was sent."""


@dataclass(frozen=True)
class Change:
    name: str
    old: int | bool
    new: int | bool


def settable_names() -> tuple[str, ...]:
    return tuple(sorted(PARAMS))


def who_may_set(name: str) -> str:
    """OWNER (or sudo), SUDO only, or DERIVED_BY_CHAIN for a value the chain derives."""
    if name in DERIVED:
        return DERIVED_BY_CHAIN
    return OWNER if PARAMS[name].owner else SUDO


def parse_value(name: str, text: str) -> int | bool:
    """A flag from true/false (yes/no, on/off, 1/0); an amount in TAO (to RAO); any other
    number as an integer in chain units."""
    rule = PARAMS[name]
    word = text.strip().lower()
    if rule.is_bool:
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise OwnerInputError(f"{name} is a flag: give true or false, not {text!r}")
    if name in AMOUNTS:
        try:
            return to_rao(float(word), name)
        except (ValueError, ChainError):
            raise OwnerInputError(f"{name} is an amount: give TAO (0.5, 2), not {text!r}") from None
    try:
        return int(word)
    except ValueError:
        raise OwnerInputError(
            f"{name} takes an integer in the chain's units (blocks for periods, u16 for "
            f"kappa-like ratios), not {text!r}"
        ) from None


def shown(name: str, value: int | bool) -> int | bool | float:
    """A value as a person reads it: amounts in TAO, everything else as the chain stores it."""
    return rao_to_tao(int(value)) if name in AMOUNTS else value


def parse_assignments(words: list[str]) -> list[tuple[str, int | bool]]:
    """`NAME VALUE [NAME VALUE ...]` -> [(name, value)], checking names and value types."""
    if not words:
        raise OwnerInputError("give at least one NAME VALUE pair, e.g. `tempo 100`")
    if len(words) % 2:
        raise OwnerInputError(
            f"{words[-1]!r} has no value: give NAME VALUE pairs, e.g. `tempo 100 kappa 32767`"
        )
    pairs: list[tuple[str, int | bool]] = []
    seen: set[str] = set()
    for name, text in zip(words[::2], words[1::2], strict=True):
        if name in DERIVED:
            raise OwnerInputError(
                f"{name} is derived (activity_cutoff_factor * tempo / 1000): set "
                "activity_cutoff_factor instead"
            )
        if name not in PARAMS:
            raise OwnerInputError(
                f"unknown hyperparameter {name!r}; settable: {', '.join(settable_names())}"
            )
        if name in seen:
            raise OwnerInputError(f"{name} is given twice: give each hyperparameter once")
        seen.add(name)
        pairs.append((name, parse_value(name, text)))
    return pairs


def params_of(current: Hyperparameters) -> dict[str, int | bool]:
    """The settable hyperparameters of a snapshot, keyed as the chain stores them."""
    return {f.name: getattr(current, f.name) for f in fields(current) if f.name in PARAMS}


def check_changes(
    current: Hyperparameters,
    n_uids: int,
    owner_coldkey: str,
    signer: str,
    is_sudo: bool,
    pairs: list[tuple[str, int | bool]],
) -> list[Change]:
    """Apply `pairs` in order to a scratch copy of the subnet under the chain's rules.

    Returns the changes (old -> new); raises `ChainError` with the chain's error name for the
    first pair the chain would refuse (who may set it, range, consistency with the others)."""
    state = DevState(block=0, genesis_hash="", reveal_seed="", config=GenesisConfig())
    subnet = Subnet(
        netuid=current.netuid,
        owner_coldkey=owner_coldkey,
        owner_hotkey="",
        registered_at=0,
        locked=0,
        params=params_of(current),
    )
    subnet.neurons = [Neuron(hotkey="", registered_at=0, last_update=0) for _ in range(n_uids)]
    state.subnets[current.netuid] = subnet
    changes = []
    for name, value in pairs:
        old = subnet.params[name]
        args = {"netuid": current.netuid, "name": name, "value": value}
        set_hyperparameter(state, signer, args, as_sudo=is_sudo)
        changes.append(Change(name, old, subnet.params[name]))
    return changes


def role_of(signer: str, owner_coldkey: str, sudo_key: str | None) -> str | None:
    """SUDO, OWNER, or None when the coldkey may not set hyperparameters on this subnet."""
    if sudo_key is not None and signer == sudo_key:
        return SUDO
    if signer == owner_coldkey:
        return OWNER
    return None


def wrong_wallet_message(netuid: int, owner_coldkey: str, signer: str, wallet_text: str) -> str:
    return (
        f"wallet {wallet_text} (coldkey {signer}) does not own subnet {netuid}: its owner is "
        f"coldkey {owner_coldkey}. Pass --wallet.name/--wallet.path of the owner's wallet "
        "(on a dev chain the sudo key --wallet.uri //Alice may set any hyperparameter)"
    )


def refusal_hint(error: ChainError) -> str:
    """A line that says how to fix a hyperparameter refusal, where the code alone does not."""
    hints = {
        "BadOrigin": "use the subnet owner's wallet, or (dev chain) the sudo key //Alice",
        "TempoOutOfBounds": "a subnet owner may set tempo within 360..50400; on a dev chain "
        "the sudo key (--wallet.uri //Alice) may set any tempo",
        "LiquidAlphaDisabled": "set liquid_alpha_enabled true first (in the same command, "
        "before the alpha values)",
        "MaxValidatorsLargerThanMaxUIds": "keep max_validators <= max_allowed_uids",
        "MaxAllowedUIdsLessThanCurrentUIds": "the subnet already holds more uids than that",
    }
    return hints.get(error.code, "")
