"""Who may call: the caller policy, applied only after the Epistula signature has verified.

The server never looks up a hotkey it has not authenticated: `check_caller` takes a `Verified`,
which only `protocol.epistula` produces, and only for a valid signature.

The metagraph is seen through one small interface, `CallerDirectory.lookup(hotkey)`, so this
package knows nothing of the chain. A neuron builds a `StaticDirectory` from each metagraph sync
and swaps it in (`server.ServerState.directory = ...`).

    policy = CallerPolicy(require_registered=True, require_validator_permit=True, min_stake=1000.0)
    caller = check_caller(policy, directory, verified)   # Caller or Refused
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from protocol.epistula import Verified
from protocol.refusals import Reason, Refused


@dataclass(frozen=True)
class CallerInfo:
    """What the metagraph says about one hotkey."""

    uid: int
    stake: float
    validator_permit: bool


class CallerDirectory(Protocol):
    """The metagraph view the server needs: `None` means not registered on the subnet."""

    def lookup(self, hotkey: str) -> CallerInfo | None: ...


class StaticDirectory:
    """A `CallerDirectory` over a fixed mapping, e.g. built from one metagraph snapshot."""

    def __init__(self, callers: Mapping[str, CallerInfo]) -> None:
        self._callers = dict(callers)

    def lookup(self, hotkey: str) -> CallerInfo | None:
        return self._callers.get(hotkey)


@dataclass(frozen=True)
class CallerPolicy:
    """Which verified callers are served. Each requirement can be switched off on its own.

    A permit or a minimum stake can only be held by a registered hotkey, so either of them
    refuses unregistered callers even when `require_registered` is off.
    """

    require_registered: bool = True
    require_validator_permit: bool = True
    min_stake: float = 0.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.min_stake) or self.min_stake < 0:
            raise ValueError(f"min_stake must be a finite number >= 0, got {self.min_stake}")


@dataclass(frozen=True)
class Caller:
    """A verified caller and what the metagraph knows of it; what a handler receives."""

    hotkey: str
    uuid: str
    timestamp_ms: int
    info: CallerInfo | None

    @property
    def stake(self) -> float:
        return self.info.stake if self.info is not None else 0.0


def check_registered(hotkey: str, info: CallerInfo | None) -> Refused | None:
    if info is not None:
        return None
    return Refused.because(
        Reason.NOT_REGISTERED,
        f"hotkey {hotkey} is not registered on this subnet; call from a registered hotkey",
    )


def check_validator_permit(hotkey: str, info: CallerInfo) -> Refused | None:
    if info.validator_permit:
        return None
    return Refused.because(
        Reason.NO_VALIDATOR_PERMIT,
        f"hotkey {hotkey} (uid {info.uid}) has no validator permit; only validators are served",
    )


def check_min_stake(hotkey: str, info: CallerInfo, min_stake: float) -> Refused | None:
    if info.stake >= min_stake:
        return None
    return Refused.because(
        Reason.STAKE_TOO_LOW,
        f"hotkey {hotkey} (uid {info.uid}) has stake {info.stake:g}, below this server's "
        f"minimum of {min_stake:g}",
    )


def check_caller(
    policy: CallerPolicy, directory: CallerDirectory, verified: Verified
) -> Caller | Refused:
    """Apply `policy` to an authenticated caller, in order: registered, permit, stake."""
    hotkey = verified.signed_by
    info = directory.lookup(hotkey)
    needs_registration = (
        policy.require_registered or policy.require_validator_permit or policy.min_stake > 0
    )
    if needs_registration:
        refused = check_registered(hotkey, info)
        if refused is not None:
            return refused
    if info is not None and policy.require_validator_permit:
        refused = check_validator_permit(hotkey, info)
        if refused is not None:
            return refused
    if info is not None:
        refused = check_min_stake(hotkey, info, policy.min_stake)
        if refused is not None:
            return refused
    return Caller(hotkey, verified.uuid, verified.timestamp_ms, info)
