"""The validator: rounds, verification, scores, weights and state, against real miners."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random

import pytest
import torch
from loguru import logger
from neuron_helpers import silent_server, slow

from chain import ChainError
from neurons import checking
from neurons.base import StartupError


async def started(validator):
    await validator.start()
    return validator


def result_of(report, uid: int) -> checking.Result:
    return next(r for r in report.results if r.uid == uid)


async def test_round_verifies_the_honest_miner_and_fails_the_other_model(subnet):
    honest, cheat = subnet.miners[0], subnet.miners[1]
    await subnet.start_miner(honest)
    await subnet.start_miner(cheat, subnet.models.other)
    validator = await started(subnet.validator(0))
    # Several rounds: a short answer of the other model can coincide with the honest one.
    reports = [await validator.run_round() for _ in range(4)]
    honest_details = {result_of(r, subnet.uid_of(honest)).detail for r in reports}
    cheat_details = {result_of(r, subnet.uid_of(cheat)).detail for r in reports}
    assert honest_details == {checking.VERIFIED}
    assert cheat_details - {checking.VERIFIED}
    scores = validator.scores.scores
    assert scores[subnet.uid_of(honest)] > scores[subnet.uid_of(cheat)]
    await validator.client.aclose()


async def test_failed_verification_resets_the_score_to_zero(subnet):
    cheat = subnet.miners[1]
    await subnet.start_miner(cheat, subnet.models.other)
    validator = await started(subnet.validator(0))
    uid = subnet.uid_of(cheat)
    validator.scores.scores[uid] = 0.8
    for _ in range(6):
        report = await validator.run_round()
        if result_of(report, uid).detail != checking.VERIFIED:
            break
    assert result_of(report, uid).detail != checking.VERIFIED
    assert validator.scores.scores[uid] == 0.0
    await validator.client.aclose()


async def test_vanished_miner_scores_zero_and_the_round_goes_on(subnet):
    gone = await subnet.start_miner(subnet.miners[0])
    await subnet.start_miner(subnet.miners[1])
    validator = await started(subnet.validator(0, "--validator.timeout", "5"))
    await gone.shutdown()
    report = await validator.run_round()
    result = result_of(report, subnet.uid_of(subnet.miners[0]))
    assert result.detail.startswith("connection_refused")
    assert report.rewards[result.uid] == 0.0
    assert result_of(report, subnet.uid_of(subnet.miners[1])).detail == checking.VERIFIED
    await validator.client.aclose()


async def test_hung_miner_times_out_without_stalling_the_round(subnet):
    await subnet.start_miner(subnet.miners[1])
    validator = await started(subnet.validator(0, "--validator.timeout", "1.5"))
    hung = subnet.uid_of(subnet.miners[0])
    with silent_server() as port:
        await validator.chain.serve_axon(subnet.miners[0], subnet.netuid, "127.0.0.1", port)
        await validator.sync()
        report = await validator.run_round()
    assert result_of(report, hung).detail.startswith("timeout")
    assert report.rewards[hung] == 0.0
    assert report.seconds < 1.5 + 2.0  # the deadline, plus verifying the other answer
    await validator.client.aclose()


async def test_restarted_miner_is_queried_again_once_it_is_back(subnet):
    wallet = subnet.miners[0]
    uid = subnet.uid_of(wallet)
    first = await subnet.start_miner(wallet)
    validator = await started(subnet.validator(0))
    await first.shutdown()
    down = await validator.run_round()
    await subnet.start_miner(wallet)  # a new process would get a new port: so does this one
    await validator.sync()
    back = await validator.run_round()
    assert result_of(down, uid).detail.startswith("connection_refused")
    assert result_of(back, uid).detail == checking.VERIFIED
    await validator.client.aclose()


async def test_slow_miner_earns_less_than_the_fast_one(subnet):
    await subnet.start_miner(subnet.miners[0])
    await subnet.start_miner(subnet.miners[2], None, wrap=slow(0.6))
    validator = await started(subnet.validator(0))
    fast_uid, slow_uid = subnet.uid_of(subnet.miners[0]), subnet.uid_of(subnet.miners[2])
    totals = {fast_uid: 0.0, slow_uid: 0.0}
    for _ in range(3):
        report = await validator.run_round()
        for uid in totals:
            totals[uid] += report.rewards[uid]
    assert totals[fast_uid] > totals[slow_uid] > 0
    await validator.client.aclose()


async def test_weights_are_set_when_due_and_recorded(subnet):
    await subnet.start_miner(subnet.miners[0])
    validator = await started(subnet.validator(0, "--validator.weights_every", "5"))
    report = await validator.run_round()
    await subnet.owner.mine(5)
    assert await validator.maybe_set_weights(report.block + 5)
    assert validator.state.last_weight_block >= report.block + 5
    rows = await subnet.owner.weights(subnet.netuid)
    weighted = dict(rows[validator.uid])
    assert weighted[subnet.uid_of(subnet.miners[0])] == max(weighted.values())
    await validator.client.aclose()


async def test_weights_are_not_set_before_they_are_due(subnet):
    await subnet.start_miner(subnet.miners[0])
    validator = await started(subnet.validator(0, "--validator.weights_every", "50"))
    report = await validator.run_round()
    assert not await validator.maybe_set_weights(report.block)
    await validator.client.aclose()


async def test_refused_weights_keep_the_scores_and_are_retried(subnet, monkeypatch):
    await subnet.start_miner(subnet.miners[0])
    validator = await started(subnet.validator(0, "--validator.weights_every", "1"))
    report = await validator.run_round()
    await subnet.owner.mine(2)
    before = validator.scores.scores.copy()
    real = validator.chain.set_weights

    async def refuse(*args, **kwargs):
        raise ChainError("SettingWeightsTooFast", "wait for the rate limit")

    monkeypatch.setattr(validator.chain, "set_weights", refuse)
    assert not await validator.maybe_set_weights(report.block + 2)
    assert (validator.scores.scores == before).all()
    assert validator.state.last_weight_block == 0
    monkeypatch.setattr(validator.chain, "set_weights", real)
    assert await validator.maybe_set_weights(report.block + 2)
    await validator.client.aclose()


async def test_a_uid_whose_hotkey_changed_starts_from_zero(subnet):
    await subnet.start_miner(subnet.miners[0])
    validator = await started(subnet.validator(0))
    uid = subnet.uid_of(subnet.miners[0])
    await validator.run_round()
    assert validator.scores.scores[uid] > 0
    hotkeys = list(validator.metagraph.hotkeys)
    hotkeys[uid] = subnet.validators[1].coldkey.ss58_address  # someone else took the uid
    await validator.on_metagraph(dataclasses.replace(validator.metagraph, hotkeys=tuple(hotkeys)))
    assert validator.scores.scores[uid] == 0.0
    await validator.client.aclose()


async def test_scores_survive_a_restart_through_the_state_file(subnet, tmp_path):
    await subnet.start_miner(subnet.miners[0])
    state = tmp_path / "v.json"
    first = await started(subnet.validator(0, state=state, secret=None))
    await first.step()
    await first.client.aclose()
    second = await started(subnet.validator(0, state=state, secret=None))
    assert (second.scores.scores == first.scores.scores).all()
    assert second.state.round == first.state.round == 1
    assert second.state.task_secret == first.state.task_secret
    await second.client.aclose()


async def test_corrupt_state_file_is_moved_aside_at_start(subnet, tmp_path):
    state = tmp_path / "v.json"
    state.write_text("{ not json")
    validator = await started(subnet.validator(0, state=state))
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("v.json.corrupt-")]
    assert [p.read_text() for p in aside] == ["{ not json"]
    assert json.loads(state.read_text())["round"] == 0
    await validator.client.aclose()


async def test_state_of_another_validator_stops_the_start(subnet, tmp_path):
    state = tmp_path / "v.json"
    other = await started(subnet.validator(1, state=state))
    await other.client.aclose()
    with pytest.raises(StartupError, match="belongs to hotkey"):
        await subnet.validator(0, state=state).start()


async def test_stop_ends_the_loop_and_saves_the_state(subnet, tmp_path):
    await subnet.start_miner(subnet.miners[0])
    state = tmp_path / "v.json"
    validator = subnet.validator(0, "--validator.round_interval", "0.1", state=state)
    running = asyncio.create_task(validator.run())
    for _ in range(200):
        await asyncio.sleep(0.05)
        if validator.state is not None and validator.state.round >= 2:
            break
    validator.stop()
    await asyncio.wait_for(running, 15)
    saved = json.loads(state.read_text())
    assert saved["round"] >= 2
    assert max(saved["scores"]["scores"]) > 0


async def test_weights_follow_the_block_schedule_through_metagraph_syncs(subnet):
    await subnet.start_miner(subnet.miners[0])
    validator = await started(subnet.validator(0, "--validator.weights_every", "5"))
    await validator.run_round()  # scores, but no weights yet: the round does not set them
    await subnet.owner.mine(5)
    await validator.sync()  # what the sync loop does every few blocks, even mid-round
    rows = await subnet.owner.weights(subnet.netuid)
    assert subnet.uid_of(subnet.miners[0]) in dict(rows[validator.uid])
    assert validator.state.last_weight_block > 0
    await validator.client.aclose()


async def test_round_without_serving_miners_completes_and_counts(subnet):
    validator = await started(subnet.validator(0))
    report = await validator.run_round()
    assert report.results == ()
    assert validator.state.round == 1
    assert not validator.scores.scores.any()
    await validator.client.aclose()


async def test_state_with_damaged_scores_is_moved_aside_at_start(subnet, tmp_path):
    state = tmp_path / "v.json"
    first = await started(subnet.validator(0, state=state))
    await first.client.aclose()
    saved = json.loads(state.read_text())
    saved["scores"] = {"version": 1, "alpha": 0.1, "hotkeys": ["a"], "scores": [7.0]}
    state.write_text(json.dumps(saved))
    second = await started(subnet.validator(0, state=state))
    assert [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert not second.scores.scores.any()
    await second.client.aclose()


async def test_out_of_memory_while_verifying_leaves_the_miner_out_with_one_warning(
    subnet, monkeypatch
):
    await subnet.start_miner(subnet.miners[0])
    validator = await started(subnet.validator(0))
    uid = subnet.uid_of(subnet.miners[0])
    validator.scores.scores[uid] = 0.8

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(validator.checker.verifier.model, "forward", out_of_memory)
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(str(message)), level="WARNING")
    try:
        report = await validator.run_round()
    finally:
        logger.remove(sink)
    result = result_of(report, uid)
    assert result.left_out and not result.proven_wrong
    assert uid not in report.rewards
    assert validator.scores.scores[uid] == 0.8
    assert len(warnings) == 1 and "--validator.verify_batch" in warnings[0]
    await validator.client.aclose()


async def test_a_streamed_task_is_read_as_a_stream_and_verified(subnet):
    from neurons.tasks import make_task
    from protocol.client import StreamReply

    miner = subnet.miners[0]
    await subnet.start_miner(miner)
    validator = await started(subnet.validator(0))
    task = dataclasses.replace(make_task(random.Random(3), 16), stream=True, temperature=0.8)
    body = checking.wire_request(task, validator.model_name)
    request = checking.translate.generation_request(body)
    [query] = checking.build_queries(validator.metagraph, [subnet.uid_of(miner)], [(body, request)])
    reply = await checking.send_query(validator.client, query, 30)
    assert isinstance(reply, StreamReply) and len(reply.chunks) > 1
    claim = checking.screen(query, reply)
    assert validator.checker.check([claim])[0].detail == checking.VERIFIED
    await validator.client.aclose()
