"""The pieces of one round: tasks the model can take, one query per task, each answer judged.

    tasks = fitting_tasks(seed, len(uids), max_tokens, model, checker.fits, source)
    queries = build_queries(metagraph, uids, tasks)
    replies = await send_queries(client, queries, timeout_s)   # concurrent, one deadline each
    results = judge_round(queries, replies, checker)           # CPU work: run it in a thread
    per_miner(results)                                         # one result per uid

`send_queries` then `judge_round` waits for every answer before verifying any (the validator
benchmark's baseline). The validator itself runs neurons/verifying.py's `query_and_verify`,
which verifies answers in batches as they arrive, from the same `screen`, `judged` and
`unverified`.

A miner that times out, refuses, cannot be reached, returns a bad signature or a response
without its proof (token ids, logprobs) fails without any model work (`screen`). A refusal the
miner signed for this request carries its reason (`caller_without_validator_permit`, ...):
the result's `refusal` and detail name it, so the validator counts and logs it per reason. Answers that
arrive are verified by `inference.Verifier.verify_many`, which fails a malformed answer alone
and verifies the others in the same pass.

An answer the validator could not verify for a fault of its own (its accelerator ran out of
memory) is `unverified`: it is left out of the round's scores rather than counted against
the miner.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from chain import Metagraph
from inference.types import MALFORMED, GenerationRequest, ModelOutOfMemory
from neurons import translate
from neurons.rewards import Outcome
from neurons.tasks import CHAT, SYNTHETIC, Task, TaskSource, make_task
from protocol import schemas as wire
from protocol.client import EpistulaClient, Failure, Reply, StreamReply, Target

VERIFIED = "verified"
# The detail of an answer left out of the scores: the validator could not verify it.
UNVERIFIED = "unverified"
OUT_OF_MEMORY = "the validator ran out of memory verifying it"
# How many extra draws a round may spend replacing tasks the model cannot take.
MAX_TASK_REDRAWS = 64


@dataclass(frozen=True)
class Judgement:
    """What the checker found about one answer: VERIFIED or why it failed, and how many of
    its tokens were not exactly the sampler's choice (inference.types.Verdict.near_ties)."""

    detail: str
    near_ties: int = 0


class Checker(Protocol):
    """What a round needs from a verifier."""

    def fits(self, request: GenerationRequest) -> bool: ...

    def check(self, claims: Sequence[translate.Claim]) -> list[Judgement]:
        """For each claim, its Judgement: VERIFIED or the reason it failed, and its near-ties.

        Raises `inference.types.ModelOutOfMemory` when the validator's own accelerator ran
        out of memory: none of these claims was judged.
        """
        ...


class VerifierChecker:
    """`Checker` over `inference.Verifier`, plus the check that the shown text is the tokens'."""

    def __init__(self, verifier) -> None:
        self.verifier = verifier

    def decode(self, ids: Sequence[int]) -> str:
        return self.verifier.tokenizer.decode(list(ids), skip_special_tokens=True)

    def fits(self, request: GenerationRequest) -> bool:
        return self.verifier.fits(request)

    def check(self, claims: Sequence[translate.Claim]) -> list[Judgement]:
        if not claims:
            return []
        verdicts = self.verifier.verify_many([claim.item for claim in claims])
        return [
            Judgement(self._reason(claim, verdict), verdict.near_ties)
            for claim, verdict in zip(claims, verdicts, strict=True)
        ]

    def _reason(self, claim: translate.Claim, verdict) -> str:
        if verdict.codes == {MALFORMED}:
            return f"{MALFORMED}: {verdict.reasons[0].message}"
        if not verdict.ok:
            return ",".join(sorted(verdict.codes))
        if not translate.shown_text_matches(claim, self.decode):
            return "text_mismatch"
        return VERIFIED


@dataclass(frozen=True)
class Query:
    uid: int
    target: Target
    body: translate.WireRequest
    request: GenerationRequest

    @property
    def path(self) -> str:
        return translate.CHAT_PATH if self.is_chat else translate.TEXT_PATH

    @property
    def is_chat(self) -> bool:
        return isinstance(self.body, wire.ChatCompletionRequest)

    @property
    def response_model(self) -> type[translate.WireResponse]:
        return wire.ChatCompletion if self.is_chat else wire.Completion


@dataclass(frozen=True)
class Result:
    uid: int
    hotkey: str
    outcome: Outcome
    detail: str  # VERIFIED, a failure reason from the wire, or the verifier's finding codes
    answered: bool  # a signed answer came back (verified or not)
    proven_wrong: bool  # a signed answer failed verification: proof of a wrong answer
    left_out: bool = False  # not judged for a fault of the validator's: no score this round
    refusal: str | None = None  # the miner's signed reason for refusing, if it refused
    near_ties: int = 0  # answer tokens that were not exactly the sampler's choice


def per_miner(results: Sequence[Result]) -> list[Result]:
    """One result per uid from its several answers in a round (uid order of first appearance).

    Verified only if every answer verified; its throughput is all their tokens over the
    slowest answer's latency, since the miner worked on them at once. The detail is the first
    failure's. A miner with an answer left out (unverified) and no failure among the others
    is left out as a whole: it cannot be shown to have earned or lost anything.
    """
    grouped: dict[int, list[Result]] = {}
    for result in results:
        grouped.setdefault(result.uid, []).append(result)
    combined = []
    for uid, group in grouped.items():
        verified = all(r.outcome.verified for r in group)
        judged = [r for r in group if not r.left_out]
        first_failed = next((r for r in judged if r.detail != VERIFIED), None)
        failure = first_failed.detail if first_failed is not None else None
        refusal = first_failed.refusal if first_failed is not None else None
        left_out = failure is None and len(judged) < len(group)
        if left_out:
            failure = next(r.detail for r in group if r.left_out)
        seconds = max(r.outcome.seconds for r in group) if verified else None
        tokens = sum(r.outcome.completion_tokens for r in group)
        outcome = Outcome(verified, tokens, seconds)
        answered = any(r.answered for r in group)
        wrong = any(r.proven_wrong for r in group)
        detail = failure or VERIFIED
        combined.append(
            Result(
                uid,
                group[0].hotkey,
                outcome,
                detail,
                answered,
                wrong,
                left_out,
                refusal,
                near_ties=sum(r.near_ties for r in group),
            )
        )
    return combined


def wire_request(task: Task, model: str) -> translate.WireRequest:
    body = task.body(model)
    if task.kind == CHAT:
        return wire.ChatCompletionRequest.model_validate(body)
    return wire.CompletionRequest.model_validate(body)


def fitting_tasks(
    seed: int,
    count: int,
    max_tokens: int,
    model: str,
    fits: Callable[[GenerationRequest], bool],
    source: TaskSource = SYNTHETIC,
) -> list[tuple[translate.WireRequest, GenerationRequest]]:
    """`count` tasks from `seed` and `source` that the validator's model can take (context,
    chat template)."""
    rng = random.Random(seed)
    chosen: list[tuple[translate.WireRequest, GenerationRequest]] = []
    for _ in range(count + MAX_TASK_REDRAWS):
        if len(chosen) == count:
            break
        body = wire_request(make_task(rng, max_tokens, source), model)
        request = translate.generation_request(body)
        if fits(request):
            chosen.append((body, request))
    if len(chosen) < count:
        raise ValueError(
            "the model refuses almost every task (context too short or no chat template?): "
            "check --model and --validator.max_tokens"
        )
    return chosen


def build_queries(
    metagraph: Metagraph,
    uids: Sequence[int],
    tasks: Sequence[tuple[translate.WireRequest, GenerationRequest]],
) -> list[Query]:
    queries = []
    for uid, (body, request) in zip(uids, tasks, strict=True):
        axon = metagraph.axons[uid]
        target = Target.at(metagraph.hotkeys[uid], axon.ip, axon.port)
        queries.append(Query(uid, target, body, request))
    return queries


async def send_query(
    client: EpistulaClient, query: Query, timeout_s: float
) -> Reply | StreamReply | Failure:
    """One query under its own deadline (a stream for a streamed task, as a user's would be);
    a failure comes back as a Failure, never raised."""
    if query.body.stream:
        return await client.stream(
            query.target,
            query.path,
            query.body,
            chunk_model=wire.ChatCompletionChunk if query.is_chat else wire.Completion,
            timeout_s=timeout_s,
        )
    return await client.call(
        query.target,
        query.path,
        query.body,
        response_model=query.response_model,
        timeout_s=timeout_s,
    )


async def send_queries(
    client: EpistulaClient, queries: Sequence[Query], timeout_s: float
) -> list[Reply | StreamReply | Failure]:
    """Every query at once, each under its own deadline: a dead miner cannot stall the round."""
    return list(await asyncio.gather(*(send_query(client, q, timeout_s) for q in queries)))


def screen(query: Query, reply: Reply | StreamReply | Failure) -> Result | translate.Claim:
    """The result of a call that brought nothing to verify, or the claim its answer makes
    (a stream's claim is what its chunks add up to)."""
    if isinstance(reply, Failure):
        if reply.refusal is not None and reply.error is not None:
            result = _result(query, reply, f"{reply.refusal}: {reply.error.message}")
            return replace(result, refusal=reply.refusal)
        status = f" {reply.status}" if reply.status is not None else ""
        return _result(query, reply, f"{reply.reason.value}{status}")
    try:
        parsed = (
            translate.assembled(reply.chunks) if isinstance(reply, StreamReply) else reply.parsed
        )
        return translate.claim_of(query.request, parsed)
    except translate.MissingProof as exc:
        return _result(query, reply, f"no_proof: {exc}")


def judged(
    query: Query, reply: Reply | StreamReply, claim: translate.Claim, judgement: Judgement
) -> Result:
    """The result of an answer the checker judged."""
    result = _result(query, reply, judgement.detail, claim.completion_tokens)
    return replace(result, near_ties=judgement.near_ties)


def unverified(query: Query, reply: Reply, claim: translate.Claim, why: str) -> Result:
    """The result of an answer the validator could not verify: left out of the scores."""
    return Result(
        query.uid,
        query.target.hotkey,
        Outcome(False, claim.completion_tokens, None),
        f"{UNVERIFIED}: {why}",
        answered=True,
        proven_wrong=False,
        left_out=True,
    )


def _result(
    query: Query, reply: Reply | StreamReply | Failure, detail: str, tokens: int = 0
) -> Result:
    verified = detail == VERIFIED
    answered = not isinstance(reply, Failure)  # a signed answer (whole or streamed) came back
    outcome = Outcome(verified, tokens, reply.latency_s if verified else None)
    return Result(
        query.uid, query.target.hotkey, outcome, detail, answered, answered and not verified
    )


def judge_round(
    queries: Sequence[Query],
    replies: Sequence[Reply | StreamReply | Failure],
    checker: Checker,
) -> list[Result]:
    """Outcomes of replies all in hand: failures as they are, answers verified in one batch.

    The whole round at once, synchronously (neurons/verifying.py overlaps the two instead).
    """
    screened = [screen(q, r) for q, r in zip(queries, replies, strict=True)]
    pending = [i for i, s in enumerate(screened) if not isinstance(s, Result)]
    try:
        verdicts = checker.check([screened[i] for i in pending])
    except ModelOutOfMemory:
        for i in pending:
            screened[i] = unverified(queries[i], replies[i], screened[i], OUT_OF_MEMORY)
        return screened
    for i, judgement in zip(pending, verdicts, strict=True):
        screened[i] = judged(queries[i], replies[i], screened[i], judgement)
    return screened
