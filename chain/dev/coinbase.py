"""One block's start: reveal commits, accrue emission, run due epochs and pay them (SPEC §6-7).

Per block and subnet, `alpha_block_emission` new alpha is split by `split_block_emission`
into the owner cut, the miners' half and the validators' half, and accrues as pending. When
the subnet's epoch is due (`should_run_epoch`, at most MAX_EPOCHS_PER_BLOCK per block, the
rest deferred one block), the pending amounts are drained, `incentive.epoch.run_epoch` runs in
chain-exact mode on the stored state, and its outputs are written back:

- the owner cut is staked to the owner's hotkey;
- each miner's incentive is staked to its hotkey (the owner hotkey's incentive is burned), and
  if no miner earned anything the validators also get the miners' half;
- the validators' pending alpha is split in proportion to the epoch's validator emission; each
  validator's part pays VALIDATOR_TAKE to the hotkey's owner and the rest to its stakers in
  proportion to their stake.

The dev chain has no root network, so the root proportion is 0 and subnets emit from their
first block (no start call).
"""

from __future__ import annotations

import numpy as np

from chain.dev.accounts import add_alpha
from chain.dev.commit_reveal import earliest_commit_blocks, epoch_due, reveal_due_commits
from chain.dev.params import MAX_EPOCHS_PER_BLOCK, VALIDATOR_TAKE_U16, activity_cutoff_blocks
from chain.dev.rows import from_sparse, to_sparse
from chain.dev.state import DevState, Subnet
from chain.dev.weights import owner_uid
from chain.types import U16_MAX
from incentive.emission import alpha_block_emission, split_block_emission
from incentive.epoch import run_epoch
from incentive.types import EpochInput, EpochOutput, EpochParams

EPOCH_MODE = "exact"


def produce_block(state: DevState) -> dict:
    """Advance to the next block and run its initialisation; returns what happened."""
    state.block += 1
    subnets = [state.subnets[n] for n in sorted(state.subnets)]
    for subnet in subnets:
        subnet.registrations_this_block = 0
    reveals = {s.netuid: r for s in subnets if (r := reveal_due_commits(state, s))}
    for subnet in subnets:
        _accrue_emission(state, subnet)
    due = _drain_due_subnets(state, subnets)
    epochs = []
    for subnet, pending in due:
        _distribute(state, subnet, *pending)
        subnet.last_mechanism_step_block = state.block
        epochs.append(subnet.netuid)
    return {"block": state.block, "epochs": epochs, "reveals": reveals}


def _accrue_emission(state: DevState, subnet: Subnet) -> None:
    alpha_out = alpha_block_emission(subnet.alpha_issuance)
    split = split_block_emission(alpha_out, owner_cut_u16=state.config.owner_cut_u16)
    subnet.pending_owner_cut += split.owner_cut
    subnet.pending_server += split.server
    subnet.pending_validator += split.validator + split.root
    subnet.alpha_issuance += alpha_out


def _drain_due_subnets(state: DevState, subnets: list[Subnet]) -> list:
    due = []
    for subnet in subnets:
        tempo = int(subnet.params["tempo"])
        subnet.blocks_since_last_step = min(subnet.blocks_since_last_step + 1, tempo + 1)
        if not epoch_due(subnet, state.block):
            continue
        if len(due) >= MAX_EPOCHS_PER_BLOCK:
            subnet.pending_epoch_at = state.block + 1
            continue
        subnet.blocks_since_last_step = 0
        pending = (subnet.pending_server, subnet.pending_validator, subnet.pending_owner_cut)
        subnet.pending_server = subnet.pending_validator = subnet.pending_owner_cut = 0
        due.append((subnet, pending))
        subnet.last_epoch_block = state.block
        subnet.pending_epoch_at = 0
        subnet.epoch_index += 1
    return due


def epoch_params(state: DevState, subnet: Subnet) -> EpochParams:
    p = subnet.params
    return EpochParams(
        kappa_u16=int(p["kappa"]),
        bonds_moving_average=int(p["bonds_moving_avg"]),
        bonds_penalty_u16=int(p["bonds_penalty"]),
        liquid_alpha=bool(p["liquid_alpha_enabled"]),
        alpha_low_u16=int(p["alpha_low"]),
        alpha_high_u16=int(p["alpha_high"]),
        alpha_sigmoid_steepness=int(p["alpha_sigmoid_steepness"]),
        yuma3=bool(p["yuma3_enabled"]),
        min_stake=state.config.stake_threshold,
        max_allowed_validators=int(p["max_validators"]),
        activity_cutoff_blocks=activity_cutoff_blocks(p),
        tempo=int(p["tempo"]),
        commit_reveal=bool(p["commit_reveal_weights_enabled"]),
        owner_uid=owner_uid(subnet),
    )


def epoch_input(state: DevState, subnet: Subnet, rao_emission: int) -> EpochInput:
    neurons = subnet.neurons
    return EpochInput(
        current_block=state.block,
        stake=np.array([state.hotkey_stake(subnet.netuid, n.hotkey) for n in neurons], np.int64),
        validator_permit=np.array([n.validator_permit for n in neurons], dtype=bool),
        weights=to_sparse([n.weights for n in neurons]),
        bonds=to_sparse([n.bonds for n in neurons]),
        last_update=np.array([n.last_update for n in neurons], dtype=np.int64),
        block_at_registration=np.array([n.registered_at for n in neurons], dtype=np.int64),
        rao_emission=rao_emission,
        commit_block=earliest_commit_blocks(subnet),
        last_mechanism_step_block=subnet.last_mechanism_step_block,
    )


def _distribute(state: DevState, subnet: Subnet, server: int, validator: int, owner_cut: int):
    out = run_epoch(
        epoch_input(state, subnet, server + validator), epoch_params(state, subnet), EPOCH_MODE
    )
    _store_outputs(subnet, out)
    if owner_cut:
        add_alpha(state, subnet.netuid, subnet.owner_hotkey, subnet.owner_coldkey, owner_cut)
    incentive = [int(x) for x in out.server_emission.tolist()]
    if sum(incentive) == 0:
        validator += server
    else:
        for uid, amount in enumerate(incentive):
            hotkey = subnet.neurons[uid].hotkey
            if amount and hotkey != subnet.owner_hotkey:  # the owner's miner share is burned
                add_alpha(state, subnet.netuid, hotkey, state.hotkey_owner[hotkey], amount)
    shares = [int(x) for x in out.validator_emission.tolist()]
    total = sum(shares)
    if total == 0 or validator == 0:
        return
    for uid, share in enumerate(shares):
        if share:
            _pay_dividend(state, subnet, subnet.neurons[uid].hotkey, validator * share // total)


def _pay_dividend(state: DevState, subnet: Subnet, hotkey: str, amount: int) -> None:
    owner = state.hotkey_owner[hotkey]
    take = amount * VALIDATOR_TAKE_U16 // U16_MAX
    rest = amount - take
    stakers = dict(state.stake.get((subnet.netuid, hotkey), {}))
    staked = sum(stakers.values())
    paid = 0
    if staked:
        for coldkey, alpha in sorted(stakers.items()):
            part = rest * alpha // staked
            if part and coldkey != owner:
                add_alpha(state, subnet.netuid, hotkey, coldkey, part)
                paid += part
    add_alpha(state, subnet.netuid, hotkey, owner, amount - paid)


def _store_outputs(subnet: Subnet, out: EpochOutput) -> None:
    bonds = from_sparse(out.bonds)
    columns = zip(
        out.consensus_u16.tolist(),
        out.incentive_u16.tolist(),
        out.dividends_u16.tolist(),
        out.validator_trust_u16.tolist(),
        out.stake_weight_u16.tolist(),
        out.emission.tolist(),
        out.active.tolist(),
        out.validator_permit.tolist(),
        strict=True,
    )
    for neuron, row, values in zip(subnet.neurons, bonds, columns, strict=True):
        (
            neuron.consensus,
            neuron.incentive,
            neuron.dividends,
            neuron.validator_trust,
            neuron.stake_weight,
            neuron.emission,
            neuron.active,
            neuron.validator_permit,
        ) = (
            int(values[0]),
            int(values[1]),
            int(values[2]),
            int(values[3]),
            int(values[4]),
            int(values[5]),
            bool(values[6]),
            bool(values[7]),
        )
        neuron.bonds = row
