"""The proof of issue 6: an honest, a cheating and a slow miner, two validators, three tempos.

Everything is real except the clock: miners serve HTTP on 127.0.0.1, validators query, verify
and set weights on an in-process dev chain, whose epochs run incentive/'s Yuma consensus. The
test mines the blocks between rounds so the run takes seconds rather than minutes.
"""

from __future__ import annotations

import asyncio

from neuron_helpers import TEMPO, slow

TEMPOS = 3
BLOCKS_PER_ROUND = 5
SLOW_DELAY_S = 0.6


async def test_honest_miner_earns_most_cheater_nothing_and_validators_dividends(subnet):
    honest, cheat, laggard = subnet.miners
    await subnet.start_miner(honest)
    await subnet.start_miner(cheat, subnet.models.other)
    await subnet.start_miner(laggard, None, wrap=slow(SLOW_DELAY_S))
    flags = ("--validator.weights_every", str(BLOCKS_PER_ROUND), "--validator.alpha", "0.3")
    validators = [subnet.validator(0, *flags), subnet.validator(1, *flags, secret="a7" * 32)]
    for validator in validators:
        await validator.start()
    start = await subnet.owner.block()
    try:
        while await subnet.owner.block() < start + TEMPOS * TEMPO:
            await asyncio.gather(*(v.step() for v in validators))
            await subnet.owner.mine(BLOCKS_PER_ROUND)
            for validator in validators:
                await validator.sync()
    finally:
        for validator in validators:
            await validator.client.aclose()
    metagraph = await subnet.owner.metagraph(subnet.netuid)
    incentive = metagraph.incentive
    h, c, s = (subnet.uid_of(w) for w in (honest, cheat, laggard))
    assert incentive[h] == max(incentive)
    assert incentive[c] < 0.05
    assert 0 < incentive[s] < incentive[h]
    for validator in validators:
        assert metagraph.dividends[validator.uid] > 0
