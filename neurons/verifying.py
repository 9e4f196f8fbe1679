"""A live round: send every query, and verify answers in batches as they arrive.

    answers = await query_and_verify(client, queries, timeout_s, checker,
                                     batch_size=32, executor=verifier_thread)
    report = RoundReport(...)                    # what the validator logs and returns

Every query is sent at once, each under its own deadline. As answers come back, those with
a proof to check wait in a queue; one worker takes whatever has arrived (up to `batch_size`)
and verifies it with one `Checker.check` call on `executor`, a single thread, so that the
verifier's synchronous model work never blocks the event loop and never runs twice at once.
Verifying the early answers thus overlaps waiting for the slow miners, and the round ends
shortly after the last answer (or deadline): the time to verify the last batch.

When the validator's accelerator runs out of memory on a batch, the answers of that batch are
`unverified` (left out of the round's scores: the fault is the validator's) and the worker
goes on with the next batch; `RoundAnswers.out_of_memory` says what happened, for one log
line per round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from inference.types import ModelOutOfMemory
from neurons import translate
from neurons.checking import (
    OUT_OF_MEMORY,
    VERIFIED,
    Checker,
    Query,
    Result,
    judged,
    screen,
    send_query,
    unverified,
)
from protocol.client import EpistulaClient, Reply, StreamReply

# What to change when verification runs out of GPU memory (the validator's own fault).
VERIFY_MEMORY_ADVICE = (
    "lower --validator.verify_batch, load the model in half precision (--model.dtype bfloat16 "
    "or float16), or run the validator on a GPU with more memory"
)


@dataclass(frozen=True)
class RoundReport:
    """What one round did, for its log line and for tests."""

    round: int
    block: int
    results: tuple[Result, ...]  # one per queried miner (left-out ones too)
    answers: tuple[Result, ...]  # one per task sent
    rewards: dict[int, float]  # per scored miner: left-out miners get none
    seconds: float
    query_seconds: float  # from sending the first query to the last answer or deadline
    verify_seconds: float  # the verifier at work, mostly overlapping the query phase
    after_answers_seconds: float  # from the last answer to the last verdict
    verify_batches: int

    def summary(self) -> str:
        verified = sum(r.detail == VERIFIED for r in self.results)
        failures: dict[str, int] = {}
        for r in self.results:
            if r.detail != VERIFIED:
                key = r.detail.split(":")[0]
                failures[key] = failures.get(key, 0) + 1
        failed = ", ".join(f"{n} {k}" for k, n in sorted(failures.items())) or "none failed"
        return (
            f"round {self.round} block {self.block} | {len(self.results)} miners queried, "
            f"{verified} verified ({failed}) | {self.seconds:.2f} s (query "
            f"{self.query_seconds:.2f} s; verify {self.verify_seconds:.2f} s in "
            f"{self.verify_batches} batches, {self.after_answers_seconds:.2f} s after the last "
            "answer)"
        )


@dataclass(frozen=True)
class RoundAnswers:
    """Every query's result (in query order) and where the round's time went."""

    results: tuple[Result, ...]
    query_seconds: float  # from the first query sent to the last answer or deadline
    verify_seconds: float  # the verifier at work, mostly while answers were still arriving
    after_answers_seconds: float  # from the last answer to the last verdict
    batches: int  # Checker.check calls
    out_of_memory: str | None = None  # the first out-of-memory error of the round, if any


@dataclass
class _Busy:
    """What the worker did: seconds at work, batches, the round's first out-of-memory error."""

    seconds: float = 0.0
    batches: int = 0
    out_of_memory: str | None = None


@dataclass(frozen=True)
class _Arrival:
    index: int
    reply: Reply | StreamReply
    claim: translate.Claim


_DONE = None  # queued after the last answer: the worker stops once it is reached


async def query_and_verify(
    client: EpistulaClient,
    queries: Sequence[Query],
    timeout_s: float,
    checker: Checker,
    *,
    batch_size: int,
    executor: Executor,
) -> RoundAnswers:
    """Send `queries`, verify their answers as they arrive; see the module docstring."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    loop = asyncio.get_running_loop()
    results: list[Result | None] = [None] * len(queries)
    arrived: asyncio.Queue[_Arrival | None] = asyncio.Queue()
    busy = _Busy()

    async def ask(index: int, query: Query) -> None:
        reply = await send_query(client, query, timeout_s)
        screened = screen(query, reply)
        if isinstance(screened, Result):
            results[index] = screened
        else:
            arrived.put_nowait(_Arrival(index, reply, screened))

    async def verify_arrivals() -> None:
        done = False
        while not done:
            batch = [await arrived.get()]
            while len(batch) < batch_size and not arrived.empty():
                batch.append(arrived.get_nowait())
            if batch[-1] is _DONE:  # only ever the last item queued
                batch.pop()
                done = True
            if not batch:
                continue
            started = time.perf_counter()
            claims = [arrival.claim for arrival in batch]
            try:
                verdicts = await loop.run_in_executor(executor, checker.check, claims)
            except ModelOutOfMemory as exc:
                busy.out_of_memory = busy.out_of_memory or str(exc)
                verdicts = None
            busy.seconds += time.perf_counter() - started
            busy.batches += 1
            for k, arrival in enumerate(batch):
                query = queries[arrival.index]
                results[arrival.index] = (
                    judged(query, arrival.reply, arrival.claim, verdicts[k])
                    if verdicts is not None
                    else unverified(query, arrival.reply, arrival.claim, OUT_OF_MEMORY)
                )

    sent = time.perf_counter()
    worker = asyncio.create_task(verify_arrivals())
    try:
        await asyncio.gather(*(ask(i, q) for i, q in enumerate(queries)))
        last_answer = time.perf_counter()
        arrived.put_nowait(_DONE)
        await worker
    finally:
        if not worker.done():  # the round was cancelled or a call raised
            worker.cancel()
    finished = time.perf_counter()
    assert all(r is not None for r in results)
    return RoundAnswers(
        tuple(results),
        last_answer - sent,
        busy.seconds,
        finished - last_answer,
        busy.batches,
        busy.out_of_memory,
    )
