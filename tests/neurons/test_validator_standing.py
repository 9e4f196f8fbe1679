"""Whether miners will answer a validator: its permit and stake, checked at start, with what
to do when they will not."""

from __future__ import annotations

from loguru import logger

from chain import Metagraph
from chain.types import NEVER_SERVED
from neurons.standing import standing_problems

HINT = "subnet stake add --netuid 1 --amount TAO"
TAO = 10**9


def metagraph(stakes_tao: list[float], permits: list[bool]) -> Metagraph:
    n = len(stakes_tao)
    return Metagraph.build(
        netuid=1,
        block=20,
        hotkeys=[f"5H{i}" for i in range(n)],
        coldkeys=[f"5C{i}" for i in range(n)],
        stake=[round(s * TAO) for s in stakes_tao],
        validator_permit=permits,
        axons=[NEVER_SERVED] * n,
        incentive_u16=[0] * n,
        dividends_u16=[0] * n,
        emission=[0] * n,
        consensus_u16=[0] * n,
        validator_trust_u16=[0] * n,
        last_update=[0] * n,
        block_at_registration=[0] * n,
    )


def test_a_validator_with_a_permit_and_enough_stake_has_no_problem():
    graph = metagraph([100, 50], [True, True])
    assert standing_problems(graph, 1, max_validators=2, miner_min_stake=10, stake_hint=HINT) == []


def test_a_validator_without_stake_is_told_to_stake():
    graph = metagraph([100, 0], [True, False])
    (problem,) = standing_problems(graph, 1, 2, 0.0, HINT)
    assert "holds no stake" in problem and HINT in problem


def test_a_staked_validator_with_a_free_slot_is_told_its_permit_comes_next_epoch():
    graph = metagraph([100, 40], [True, False])
    (problem,) = standing_problems(graph, 1, 2, 0.0, HINT)
    assert "earns one at the next epoch" in problem


def test_a_validator_outstaked_for_the_last_permit_is_told_how_much_more_to_stake():
    graph = metagraph([100, 60, 40], [True, True, False])
    (problem,) = standing_problems(graph, 2, 2, 0.0, HINT)
    assert "the smallest by a hotkey with 60 TAO" in problem
    assert "more than 20 TAO more" in problem and HINT in problem


def test_a_validator_below_the_miners_minimum_stake_is_told_the_difference():
    graph = metagraph([100, 60], [True, True])
    (problem,) = standing_problems(graph, 1, 2, 75.0, HINT)
    assert "miners ask for at least 75" in problem and "stake 15 TAO more" in problem


async def test_a_validator_without_a_permit_says_so_at_start(subnet):
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING")
    validator = subnet.validator(0, wallet=subnet.miners[2])
    try:
        await validator.start()
    finally:
        logger.remove(sink)
        await validator.client.aclose()
    logged = "".join(lines)
    assert "holds no stake, so no validator permit" in logged
    assert f"subnet stake add --netuid {subnet.netuid} --amount TAO" in logged
