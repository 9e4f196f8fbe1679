"""Whether miners will answer this validator: its permit and its stake, and what to do if not.

Miners answer only callers holding a validator permit (`--miner.require_permit`, on by
default) with at least their `--miner.min_stake`. The chain hands out permits at each epoch
to the `max_validators` hotkeys with the most stake. `standing_problems` is pure: a metagraph,
this validator's uid and the subnet's numbers in, one message per problem out, each saying
what to do. The validator logs them at start and when its permit comes or goes.
"""

from __future__ import annotations

from chain import Metagraph


def permit_problem(
    metagraph: Metagraph, uid: int, max_validators: int, stake_hint: str
) -> str | None:
    """Why this uid holds no permit and how to get one; None when it holds one."""
    if metagraph.validator_permit[uid]:
        return None
    stake = float(metagraph.stake_tao[uid])
    holders = [u for u in range(metagraph.n) if metagraph.validator_permit[u]]
    refused = "until then miners refuse it (caller_without_validator_permit)"
    if stake <= 0:
        return (
            f"uid {uid} holds no stake, so no validator permit, and miners refuse it "
            f"(caller_without_validator_permit): permits go to the {max_validators} hotkeys with "
            f"most stake at each epoch; stake with `{stake_hint}`"
        )
    if len(holders) < max_validators:
        return (
            f"uid {uid} has no validator permit yet: {len(holders)} of {max_validators} permits "
            f"are held, so its {stake:,.9g} TAO of stake earns one at the next epoch; {refused}"
        )
    lowest = min(float(metagraph.stake_tao[u]) for u in holders)
    return (
        f"uid {uid} has no validator permit: all {max_validators} are held, the smallest by a "
        f"hotkey with {lowest:,.9g} TAO of stake, and this one has {stake:,.9g} TAO; stake more "
        f"than {lowest - stake:,.9g} TAO more with `{stake_hint}` ({refused})"
    )


def stake_problem(
    metagraph: Metagraph, uid: int, miner_min_stake: float, stake_hint: str
) -> str | None:
    """Why miners asking for `miner_min_stake` TAO refuse this uid; None when it has enough."""
    stake = float(metagraph.stake_tao[uid])
    if stake >= miner_min_stake:
        return None
    return (
        f"uid {uid} has {stake:,.9g} TAO of stake and miners ask for at least "
        f"{miner_min_stake:,.9g} (--validator.miner_min_stake): they refuse it "
        f"(caller_stake_too_low); stake {miner_min_stake - stake:,.9g} TAO more with "
        f"`{stake_hint}`"
    )


def standing_problems(
    metagraph: Metagraph, uid: int, max_validators: int, miner_min_stake: float, stake_hint: str
) -> list[str]:
    """Every reason miners will refuse this validator, each with what to do."""
    problems = (
        permit_problem(metagraph, uid, max_validators, stake_hint),
        stake_problem(metagraph, uid, miner_min_stake, stake_hint),
    )
    return [problem for problem in problems if problem is not None]
