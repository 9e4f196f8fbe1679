"""Commit-reveal without drand: timelocked weights that only the reveal epoch can open.

Subtensor's v4 commit-reveal encrypts weights to a future drand round; the chain can read them
only once drand publishes that round. The dev chain has no drand, so it plays the beacon:

- Every (subnet, reveal round) has an ed25519 key derived from a secret seed that no read
  returns. The round of a commit made in epoch e is e + commit_reveal_period, and a round's
  public key is readable (`reveal_key`) while its private key is used only once that epoch
  fires.
- `set_weights` on a commit-reveal subnet seals `{hotkey, uids, values, version_key}` to the
  round's public key (a sealed box) and submits `commit_timelocked_weights`. The chain stores
  the ciphertext; no read returns it or its contents, and it does not count in any epoch.
- At the start of the block where the reveal epoch fires, before the coinbase, the chain opens
  every commit of epoch e = current - period with the round key, checks the hotkey inside, and
  applies the weights through the normal checks (`apply_weights`), as `reveal_crv3_commits`
  does. A commit that fails to open or to validate is dropped. Commits older than the reveal
  epoch are deleted. LastUpdate is set at commit time, and the epoch's commit-reveal column mask
  reads the earliest unexpired commit block per validator (SPEC §3, §4.5.5).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from bittensor.keyfiles import Keypair

from chain.dev import args as A
from chain.dev.params import COMMIT_REVEAL_VERSION, MAX_UNREVEALED_COMMITS
from chain.dev.state import Commit, DevState, Subnet
from chain.dev.weights import apply_weights, check_rate_limit, registered_uid
from chain.errors import ChainError
from incentive.emission import should_run_epoch

ED25519 = 0
MAX_COMMIT_BYTES = 16_384  # a full 256-uid row encrypts to well under this


def epoch_due(subnet: Subnet, block: int) -> bool:
    return should_run_epoch(
        block,
        subnet.last_epoch_block,
        int(subnet.params["tempo"]),
        subnet.pending_epoch_at,
        subnet.blocks_since_last_step,
    )


def current_epoch(subnet: Subnet, block: int) -> int:
    """`current_epoch_with_lookahead`: the epoch a commit or reveal at `block` belongs to."""
    return subnet.epoch_index + (1 if epoch_due(subnet, block) else 0)


def round_key(state: DevState, netuid: int, reveal_round: int) -> Keypair:
    material = f"{state.reveal_seed}:{netuid}:{reveal_round}".encode()
    return Keypair.create_from_seed(hashlib.sha256(material).digest(), crypto_type=ED25519)


def reveal_target(state: DevState, subnet: Subnet) -> dict:
    """The round a commit made now must target, and that round's public key."""
    reveal_round = current_epoch(subnet, state.block) + int(subnet.params["commit_reveal_period"])
    return {
        "round": reveal_round,
        "public_key": round_key(state, subnet.netuid, reveal_round).ss58_address,
    }


def seal_weights(
    public_key: str, hotkey: str, uids: list[int], values: list[int], version_key: int
) -> str:
    """The committer's side: the payload sealed to the round's public key, as hex."""
    payload = {"hotkey": hotkey, "uids": uids, "values": values, "version_key": version_key}
    plain = json.dumps(payload, separators=(",", ":")).encode()
    return Keypair.encrypt_for(public_key, plain, crypto_type=ED25519).hex()


def commit_timelocked_weights(state: DevState, hotkey: str, args: dict) -> dict:
    """`commit_timelocked_mechanism_weights` signed by the hotkey."""
    netuid = A.integer(args, "netuid", high=A.U16_MAX)
    ciphertext = A.hex_bytes(args, "commit", MAX_COMMIT_BYTES)
    reveal_round = A.integer(args, "reveal_round")
    version = A.integer(args, "commit_reveal_version", high=A.U16_MAX)
    subnet = state.existing_subnet(netuid, "MechanismDoesNotExist")
    if not subnet.params["commit_reveal_weights_enabled"]:
        raise ChainError(
            "CommitRevealDisabled", f"subnet {netuid} has commit-reveal off: set weights directly"
        )
    if version != COMMIT_REVEAL_VERSION:
        raise ChainError(
            "IncorrectCommitRevealVersion",
            f"commit-reveal version {COMMIT_REVEAL_VERSION} is required, got {version}",
        )
    uid = registered_uid(subnet, hotkey)
    check_rate_limit(subnet, uid, state.block, "CommittingWeightsTooFast", "committed")
    epoch = current_epoch(subnet, state.block)
    expected_round = epoch + int(subnet.params["commit_reveal_period"])
    if reveal_round != expected_round:
        raise ChainError(
            "InvalidRevealRound",
            f"a commit made now reveals in round {expected_round}, not {reveal_round}; "
            "fetch the reveal key again",
        )
    pending = subnet.commits.get(epoch, [])
    if sum(1 for c in pending if c.hotkey == hotkey) >= MAX_UNREVEALED_COMMITS:
        raise ChainError(
            "TooManyUnrevealedCommits",
            f"{hotkey} already has {MAX_UNREVEALED_COMMITS} unrevealed commits this epoch",
        )
    subnet.commits.setdefault(epoch, []).append(
        Commit(hotkey, state.block, ciphertext, reveal_round)
    )
    subnet.neurons[uid].last_update = state.block
    return {"uid": uid, "reveal_round": reveal_round}


def reveal_due_commits(state: DevState, subnet: Subnet) -> list[dict]:
    """Open and apply the commits whose reveal epoch is now; returns what happened to each."""
    period = int(subnet.params["commit_reveal_period"])
    epoch = current_epoch(subnet, state.block)
    reveal_epoch = epoch - period
    for old in [e for e in subnet.commits if e < reveal_epoch]:
        del subnet.commits[old]
    if epoch < period or reveal_epoch not in subnet.commits:
        return []
    outcomes = []
    keys: dict[int, Keypair] = {}
    for commit in subnet.commits.pop(reveal_epoch):
        if commit.reveal_round > epoch:  # the round's key is not disclosed yet: keep waiting
            subnet.commits.setdefault(reveal_epoch, []).append(commit)
            continue
        key = keys.get(commit.reveal_round) or round_key(state, subnet.netuid, commit.reveal_round)
        keys[commit.reveal_round] = key
        outcomes.append(_reveal_one(state, subnet, commit, key))
    return outcomes


def _reveal_one(state: DevState, subnet: Subnet, commit: Commit, key: Keypair) -> dict:
    outcome = {"hotkey": commit.hotkey, "commit_block": commit.commit_block}
    try:
        payload = json.loads(key.decrypt(bytes.fromhex(commit.ciphertext)))
        if payload.get("hotkey") != commit.hotkey:
            return {**outcome, "error": "hotkey inside the commit is not the committer"}
        apply_weights(
            state,
            commit.hotkey,
            subnet.netuid,
            A.u16_list(payload, "uids"),
            A.u16_list(payload, "values"),
            A.optional_integer(payload, "version_key", 0),
        )
    except ChainError as error:
        return {**outcome, "error": error.code}
    except (ValueError, TypeError, AttributeError):
        return {**outcome, "error": "commit does not open with the round key"}
    return {**outcome, "revealed": True}


def earliest_commit_blocks(subnet: Subnet) -> np.ndarray:
    """Per uid, the earliest unexpired commit block (-1 if none), for the epoch's CR mask."""
    period = int(subnet.params["commit_reveal_period"])
    earliest = np.full(subnet.n, -1, dtype=np.int64)
    for commit_epoch, commits in subnet.commits.items():
        if subnet.epoch_index > commit_epoch + period:
            continue
        for commit in commits:
            uid = subnet.uids.get(commit.hotkey)
            if uid is not None and (earliest[uid] < 0 or commit.commit_block < earliest[uid]):
                earliest[uid] = commit.commit_block
    return earliest
