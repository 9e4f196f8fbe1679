"""A live round: answers are verified in batches as they arrive, on one thread off the loop.

Fakes stand in for the miners (a client whose answers wait on events) and for the verifier
(a checker that records its batches), so every ordering below is forced, not timed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from neuron_helpers import completion_reply, proven_choice

from inference.types import GenerationRequest, ModelOutOfMemory
from neurons import checking
from neurons.checking import VERIFIED, Judgement, Query
from neurons.verifying import query_and_verify
from protocol import schemas as wire
from protocol.client import Failure, FailureReason, Reply, Target

REQUEST = GenerationRequest(prompt="the river", max_tokens=4, temperature=0.0)
BODY = wire.CompletionRequest(model="m", prompt="the river", max_tokens=4, temperature=0)
# How long a forced ordering may take before the test gives up (it never should).
WAIT_S = 10.0


def query(uid: int) -> Query:
    return Query(uid, Target(f"hk{uid}", "http://127.0.0.1:1"), BODY, REQUEST)


def answer(target: Target) -> Reply:
    return completion_reply(target, proven_choice())


class FakeClient:
    """Each miner (by hotkey) answers when its coroutine says so."""

    def __init__(self, miners: dict[str, Callable[[Target], Awaitable[Reply | Failure]]]):
        self.miners = miners

    async def call(self, target, path, body, *, response_model, timeout_s):
        return await self.miners[target.hotkey](target)


async def at_once(target: Target) -> Reply:
    return answer(target)


def after(event: asyncio.Event) -> Callable[[Target], Awaitable[Reply | Failure]]:
    async def wait_then_answer(target: Target) -> Reply | Failure:
        try:
            await asyncio.wait_for(event.wait(), WAIT_S)
        except asyncio.TimeoutError:
            return Failure(target, FailureReason.TIMEOUT, "never released", WAIT_S)
        return answer(target)

    return wait_then_answer


class RecordingChecker:
    """Verifies everything; records each batch, how many ran at once, and on which thread."""

    def __init__(self, before_check: Callable[[int], None] | None = None):
        self.before_check = before_check
        self.batches: list[int] = []
        self.threads: set[int] = set()
        self.active = 0
        self.most_active = 0
        self.lock = threading.Lock()

    def fits(self, request) -> bool:
        return True

    def check(self, claims):
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            self.threads.add(threading.get_ident())
            if self.before_check is not None:
                self.before_check(len(self.batches))
            self.batches.append(len(claims))
            return [Judgement(VERIFIED)] * len(claims)
        finally:
            with self.lock:
                self.active -= 1


@pytest.fixture
def verifier_thread():
    executor = ThreadPoolExecutor(max_workers=1)
    try:
        yield executor
    finally:
        executor.shutdown(wait=True)


def release_on_loop(event: asyncio.Event, loop: asyncio.AbstractEventLoop) -> None:
    loop.call_soon_threadsafe(event.set)


async def test_an_early_answer_is_verified_before_a_slow_miner_answers(verifier_thread):
    loop = asyncio.get_running_loop()
    first_verified = asyncio.Event()
    checker = RecordingChecker()
    real_check = checker.check

    def check_then_release(claims):
        verdicts = real_check(claims)
        release_on_loop(first_verified, loop)
        return verdicts

    checker.check = check_then_release
    client = FakeClient({"hk1": at_once, "hk2": after(first_verified)})
    answers = await query_and_verify(
        client, [query(1), query(2)], 30, checker, batch_size=8, executor=verifier_thread
    )
    assert [r.detail for r in answers.results] == [VERIFIED, VERIFIED]
    assert checker.batches == [1, 1]


async def test_verification_runs_off_the_event_loop(verifier_thread):
    started, released = threading.Event(), threading.Event()
    waited: list[bool] = []

    def block_until_released(_: int) -> None:
        started.set()
        waited.append(released.wait(WAIT_S))

    async def release_from_the_loop() -> None:
        while not started.is_set():
            await asyncio.sleep(0.01)
        released.set()

    releaser = asyncio.create_task(release_from_the_loop())
    checker = RecordingChecker(block_until_released)
    client = FakeClient({"hk1": at_once})
    await query_and_verify(client, [query(1)], 30, checker, batch_size=8, executor=verifier_thread)
    await releaser
    assert waited == [True]
    assert threading.get_ident() not in checker.threads


async def test_answers_that_arrived_meanwhile_are_verified_together_up_to_the_batch_size(
    verifier_thread,
):
    first_started = asyncio.Event()
    all_answered = threading.Event()
    loop = asyncio.get_running_loop()

    def hold_first_batch(index: int) -> None:
        if index == 0:
            release_on_loop(first_started, loop)
            assert all_answered.wait(WAIT_S)

    answered = []

    async def later(target: Target) -> Reply:
        await first_started.wait()
        answered.append(target.hotkey)
        if len(answered) == 5:
            all_answered.set()
        return answer(target)

    miners = {"hk1": at_once, **{f"hk{uid}": later for uid in range(2, 7)}}
    checker = RecordingChecker(hold_first_batch)
    answers = await query_and_verify(
        FakeClient(miners),
        [query(uid) for uid in range(1, 7)],
        30,
        checker,
        batch_size=2,
        executor=verifier_thread,
    )
    assert checker.batches == [1, 2, 2, 1]
    assert checker.most_active == 1
    assert answers.batches == 4
    assert all(r.detail == VERIFIED for r in answers.results)


async def test_out_of_memory_leaves_its_batch_out_and_the_next_batch_is_verified(
    verifier_thread,
):
    loop = asyncio.get_running_loop()
    first_done = asyncio.Event()

    class RunsOutOnce(RecordingChecker):
        def check(self, claims):
            if not self.batches:
                self.batches.append(len(claims))
                release_on_loop(first_done, loop)
                raise ModelOutOfMemory("out of cuda memory verifying 1 completions", 1)
            return super().check(claims)

    client = FakeClient({"hk1": at_once, "hk2": after(first_done)})
    answers = await query_and_verify(
        client, [query(1), query(2)], 30, RunsOutOnce(), batch_size=8, executor=verifier_thread
    )
    left, verified = answers.results
    assert left.left_out and left.detail.startswith(checking.UNVERIFIED)
    assert left.answered and not left.proven_wrong and not left.outcome.verified
    assert verified.detail == VERIFIED and not verified.left_out
    assert "out of cuda memory" in answers.out_of_memory


async def test_failed_calls_never_reach_the_verifier_and_results_keep_query_order(
    verifier_thread,
):
    async def times_out(target: Target) -> Failure:
        return Failure(target, FailureReason.TIMEOUT, "late", 5.0)

    checker = RecordingChecker()
    client = FakeClient({"hk1": times_out, "hk2": at_once})
    answers = await query_and_verify(
        client, [query(1), query(2)], 30, checker, batch_size=8, executor=verifier_thread
    )
    assert [(r.uid, r.detail) for r in answers.results] == [(1, "timeout"), (2, VERIFIED)]
    assert checker.batches == [1]


async def test_a_batch_size_below_one_is_refused(verifier_thread):
    with pytest.raises(ValueError, match="batch_size"):
        await query_and_verify(
            FakeClient({}), [], 30, RecordingChecker(), batch_size=0, executor=verifier_thread
        )
