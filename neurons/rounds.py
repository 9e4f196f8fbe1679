"""The validator's decisions, as pure functions: whom to query, and when weights are due.

No chain, no clock: the metagraph snapshot, the block and the round number are passed in.
"""

from __future__ import annotations

from collections.abc import Sequence

from chain import Metagraph


def serving_uids(metagraph: Metagraph, own_uid: int | None) -> list[int]:
    """Uids with an announced axon, except the validator itself, in uid order."""
    return [
        uid
        for uid, axon in enumerate(metagraph.axons)
        if axon.is_serving and uid != own_uid and axon.ip not in ("0.0.0.0", "")
    ]


def rotating_sample(candidates: Sequence[int], sample_size: int, round_index: int) -> list[int]:
    """All candidates, or a window of `sample_size` that moves by its own size each round.

    Over ceil(len / size) consecutive rounds every candidate is queried at least once,
    whatever the round number the validator restarts from.
    """
    if sample_size <= 0:
        raise ValueError(f"sample_size must be at least 1, got {sample_size}")
    n = len(candidates)
    if n <= sample_size:
        return list(candidates)
    start = (round_index * sample_size) % n
    return [candidates[(start + i) % n] for i in range(sample_size)]


def weights_due(
    block: int,
    last_weight_block: int,
    last_update: int,
    every: int,
    rate_limit: int,
) -> bool:
    """Whether to set weights at `block`.

    `last_weight_block` is when this validator last succeeded (its own record, kept across
    restarts); `last_update` is what the chain records. The later of the two counts, and the
    wait is the longer of `every` and the subnet's weights rate limit, so a validator never
    submits what the chain would refuse as too fast. A recorded block ahead of the chain
    (a dev chain started afresh) is ignored rather than blocking weights forever.
    """
    own = last_weight_block if last_weight_block <= block else 0
    last = max(own, last_update)
    return block - last >= max(every, rate_limit)
