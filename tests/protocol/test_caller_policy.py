"""The caller policy: registered, validator permit, minimum stake, each switchable."""

from __future__ import annotations

import math

import pytest

from protocol.epistula import Verified
from protocol.policy import Caller, CallerInfo, CallerPolicy, StaticDirectory, check_caller
from protocol.refusals import Reason, Refused

UUID = "0b3d4f1e-6a2c-4d5e-9f10-1a2b3c4d5e6f"
DIRECTORY = StaticDirectory(
    {
        "validator": CallerInfo(uid=1, stake=500.0, validator_permit=True),
        "no-permit": CallerInfo(uid=2, stake=900.0, validator_permit=False),
        "poor": CallerInfo(uid=3, stake=99.0, validator_permit=True),
    }
)


def check(policy: CallerPolicy, hotkey: str) -> Caller | Refused:
    return check_caller(policy, DIRECTORY, Verified(hotkey, "miner", UUID, 1))


def code(result: Caller | Refused) -> str:
    assert isinstance(result, Refused), result
    return result.code


def test_registered_validator_with_stake_is_served_with_its_info() -> None:
    caller = check(CallerPolicy(min_stake=100.0), "validator")
    assert isinstance(caller, Caller)
    assert (caller.hotkey, caller.uuid, caller.stake) == ("validator", UUID, 500.0)
    assert caller.info == CallerInfo(1, 500.0, True)


def test_unregistered_caller_is_refused_403() -> None:
    result = check(CallerPolicy(), "stranger")
    assert code(result) == Reason.NOT_REGISTERED
    assert isinstance(result, Refused) and result.status == 403 and "stranger" in result.message


def test_caller_without_validator_permit_is_refused() -> None:
    assert code(check(CallerPolicy(), "no-permit")) == Reason.NO_VALIDATOR_PERMIT


def test_caller_below_minimum_stake_is_refused_with_both_amounts() -> None:
    result = check(CallerPolicy(min_stake=100.0), "poor")
    assert code(result) == Reason.STAKE_TOO_LOW
    assert isinstance(result, Refused) and "99" in result.message and "100" in result.message


def test_stake_equal_to_the_minimum_is_enough() -> None:
    assert isinstance(check(CallerPolicy(min_stake=99.0), "poor"), Caller)


def test_permit_requirement_can_be_switched_off() -> None:
    assert isinstance(check(CallerPolicy(require_validator_permit=False), "no-permit"), Caller)


def test_open_policy_serves_unregistered_callers_with_zero_stake() -> None:
    open_policy = CallerPolicy(require_registered=False, require_validator_permit=False)
    caller = check(open_policy, "stranger")
    assert isinstance(caller, Caller) and caller.info is None and caller.stake == 0.0


def test_a_minimum_stake_implies_registration() -> None:
    policy = CallerPolicy(require_registered=False, require_validator_permit=False, min_stake=1.0)
    assert code(check(policy, "stranger")) == Reason.NOT_REGISTERED


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_policy_rejects_a_meaningless_minimum_stake(bad: float) -> None:
    with pytest.raises(ValueError, match="min_stake"):
        CallerPolicy(min_stake=bad)
