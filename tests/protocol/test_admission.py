"""Admission: bounded concurrency, a bounded queue, the highest stake admitted first."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.admission import Admission, AdmissionLimits
from protocol.refusals import Reason, Refused


async def settle() -> None:
    """Let every runnable task take its next step."""
    for _ in range(5):
        await asyncio.sleep(0)


async def queue_up(
    admission: Admission, stakes: list[float], order: list[int]
) -> list[asyncio.Task]:
    """One waiting task per stake, queued in list order; each appends its index when admitted."""

    async def wait(index: int, stake: float) -> Refused | None:
        refused = await admission.acquire(stake)
        if refused is None:
            order.append(index)
        return refused

    tasks = []
    for index, stake in enumerate(stakes):
        tasks.append(asyncio.create_task(wait(index, stake)))
        await settle()
    return tasks


async def test_requests_run_at_once_up_to_the_concurrency_limit() -> None:
    admission = Admission(AdmissionLimits(max_concurrent=3))
    results = [await admission.acquire(1.0) for _ in range(3)]
    assert results == [None, None, None] and admission.running == 3


async def test_hole_saturated_server_admits_the_highest_stake_first() -> None:
    admission = Admission(AdmissionLimits(max_concurrent=1, max_queue=10))
    assert await admission.acquire(0.0) is None
    order: list[int] = []
    await queue_up(admission, [10.0, 500.0, 50.0, 500.0, 0.0], order)
    for _ in range(5):
        admission.release()
        await settle()
    assert order == [1, 3, 2, 0, 4]  # by stake; the two 500s in arrival order


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=12))
def test_admission_order_is_stake_descending_then_arrival(stakes: list[int]) -> None:
    async def scenario() -> list[int]:
        admission = Admission(AdmissionLimits(max_concurrent=1, max_queue=len(stakes)))
        await admission.acquire(0.0)
        order: list[int] = []
        await queue_up(admission, [float(s) for s in stakes], order)
        for _ in stakes:
            admission.release()
            await settle()
        return order

    expected = sorted(range(len(stakes)), key=lambda i: (-stakes[i], i))
    assert asyncio.run(scenario()) == expected


async def test_full_queue_answers_429_with_retry_after() -> None:
    admission = Admission(AdmissionLimits(max_concurrent=1, max_queue=1, retry_after_s=3))
    await admission.acquire(5.0)
    await queue_up(admission, [5.0], [])
    refused = await admission.acquire(5.0)
    assert isinstance(refused, Refused)
    assert (refused.code, refused.status, refused.retry_after_s) == (Reason.QUEUE_FULL, 429, 3)
    assert admission.queued == 1


async def test_higher_stake_takes_the_place_of_the_lowest_waiter_in_a_full_queue() -> None:
    admission = Admission(AdmissionLimits(max_concurrent=1, max_queue=2))
    await admission.acquire(0.0)
    order: list[int] = []
    low, mid, high = await queue_up(admission, [1.0, 7.0, 9.0], order)
    displaced = await low
    assert isinstance(displaced, Refused) and displaced.status == 429
    assert "took your place" in displaced.message
    for _ in range(2):
        admission.release()
        await settle()
    assert order == [2, 1]
    assert await high is None and await mid is None


async def test_newcomer_without_more_stake_than_any_waiter_is_the_one_refused() -> None:
    admission = Admission(AdmissionLimits(max_concurrent=1, max_queue=2))
    await admission.acquire(0.0)
    first, second, third = await queue_up(admission, [5.0, 5.0, 5.0], [])
    refused = await third
    assert isinstance(refused, Refused) and refused.code == Reason.QUEUE_FULL
    assert not first.done() and not second.done()
    for task in (first, second):
        task.cancel()


async def test_no_queue_means_refusing_as_soon_as_saturated() -> None:
    admission = Admission(AdmissionLimits(max_concurrent=1, max_queue=0))
    await admission.acquire(1.0)
    refused = await admission.acquire(1e9)
    assert isinstance(refused, Refused) and refused.code == Reason.QUEUE_FULL


async def test_waiter_past_its_max_wait_is_refused_503() -> None:
    admission = Admission(AdmissionLimits(max_concurrent=1, max_queue=4, max_wait_s=0.05))
    await admission.acquire(1.0)
    refused = await admission.acquire(1.0)
    assert isinstance(refused, Refused)
    assert (refused.code, refused.status) == (Reason.QUEUE_WAIT_EXCEEDED, 503)
    assert admission.queued == 0


async def test_cancelled_waiter_leaves_the_queue_and_the_slot_goes_to_the_next() -> None:
    admission = Admission(AdmissionLimits(max_concurrent=1, max_queue=4))
    await admission.acquire(1.0)
    order: list[int] = []
    gone, stays = await queue_up(admission, [9.0, 1.0], order)
    gone.cancel()
    await settle()
    assert admission.queued == 1
    admission.release()
    await settle()
    assert order == [1] and await stays is None and admission.running == 1


async def test_slot_handed_to_a_waiter_that_was_just_cancelled_is_passed_on() -> None:
    admission = Admission(AdmissionLimits(max_concurrent=1, max_queue=4))
    await admission.acquire(1.0)
    order: list[int] = []
    first, second = await queue_up(admission, [9.0, 1.0], order)
    admission.release()  # hands the slot to `first`, which has not resumed yet
    first.cancel()
    await settle()
    assert first.cancelled() and order == [1] and admission.running == 1
    assert await second is None


async def test_release_frees_the_slot_when_nobody_waits() -> None:
    admission = Admission(AdmissionLimits(max_concurrent=1))
    await admission.acquire(1.0)
    admission.release()
    assert admission.running == 0 and await admission.acquire(1.0) is None


async def test_release_without_a_running_request_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no request running"):
        Admission().release()


async def test_nan_stake_is_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        await Admission().acquire(float("nan"))


@pytest.mark.parametrize(
    "bad",
    [{"max_concurrent": 0}, {"max_queue": -1}, {"max_wait_s": 0}, {"retry_after_s": 0}],
)
def test_limits_reject_values_that_cannot_work(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        AdmissionLimits(**bad)
