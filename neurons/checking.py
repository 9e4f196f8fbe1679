"""One round's work: send each chosen miner its own task, verify every answer, score it.

    queries = build_queries(metagraph, uids, tasks, model_name)
    replies = await send_queries(client, queries, timeout_s)   # concurrent, one deadline each
    results = judge_round(queries, replies, checker)           # CPU work: run it in a thread

A miner that times out, refuses, cannot be reached, returns a bad signature or a response
without its proof (token ids, logprobs) fails without any model work. Answers that arrive are
verified together by `inference.Verifier.verify_many`, one forward pass per batch.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from chain import Metagraph
from inference.prompts import prepare
from inference.types import GenerationRequest, InvalidCompletion, InvalidRequest
from neurons import translate
from neurons.rewards import Outcome
from neurons.tasks import CHAT, Task, make_task
from protocol import schemas as wire
from protocol.client import EpistulaClient, Failure, Reply, Target

VERIFIED = "verified"
# How many extra draws a round may spend replacing tasks the model cannot take.
MAX_TASK_REDRAWS = 64


class Checker(Protocol):
    """What a round needs from a verifier."""

    def fits(self, request: GenerationRequest) -> bool: ...

    def check(self, claims: Sequence[translate.Claim]) -> list[str]:
        """For each claim, VERIFIED or the reason it failed."""
        ...


class VerifierChecker:
    """`Checker` over `inference.Verifier`, plus the check that the shown text is the tokens'."""

    def __init__(self, verifier) -> None:
        self.verifier = verifier

    def decode(self, ids: Sequence[int]) -> str:
        return self.verifier.tokenizer.decode(list(ids), skip_special_tokens=True)

    def fits(self, request: GenerationRequest) -> bool:
        try:
            prepare(self.verifier.tokenizer, request, self.verifier.limits)
        except InvalidRequest:
            return False
        return True

    def check(self, claims: Sequence[translate.Claim]) -> list[str]:
        if not claims:
            return []
        items = [claim.item for claim in claims]
        try:
            verdicts = self.verifier.verify_many(items)
        except (InvalidCompletion, InvalidRequest):
            # One malformed answer refuses the whole batch: verify one by one to find it.
            return [self._check_one(claim) for claim in claims]
        return [
            self._reason(claim, verdict) for claim, verdict in zip(claims, verdicts, strict=True)
        ]

    def _check_one(self, claim: translate.Claim) -> str:
        try:
            verdict = self.verifier.verify_many([claim.item])[0]
        except (InvalidCompletion, InvalidRequest) as exc:
            return f"malformed: {exc}"
        return self._reason(claim, verdict)

    def _reason(self, claim: translate.Claim, verdict) -> str:
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


def per_miner(results: Sequence[Result]) -> list[Result]:
    """One result per uid from its several answers in a round (uid order of first appearance).

    Verified only if every answer verified; its throughput is all their tokens over the
    slowest answer's latency, since the miner worked on them at once. The detail is the first
    failure's.
    """
    grouped: dict[int, list[Result]] = {}
    for result in results:
        grouped.setdefault(result.uid, []).append(result)
    combined = []
    for uid, group in grouped.items():
        verified = all(r.outcome.verified for r in group)
        failure = next((r.detail for r in group if r.detail != VERIFIED), VERIFIED)
        seconds = max(r.outcome.seconds for r in group) if verified else None
        tokens = sum(r.outcome.completion_tokens for r in group)
        outcome = Outcome(verified, tokens, seconds)
        answered = any(r.answered for r in group)
        wrong = any(r.proven_wrong for r in group)
        combined.append(Result(uid, group[0].hotkey, outcome, failure, answered, wrong))
    return combined


def wire_request(task: Task, model: str) -> translate.WireRequest:
    body = task.body(model)
    if task.kind == CHAT:
        return wire.ChatCompletionRequest.model_validate(body)
    return wire.CompletionRequest.model_validate(body)


def fitting_tasks(
    seed: int, count: int, max_tokens: int, model: str, fits: Callable[[GenerationRequest], bool]
) -> list[tuple[translate.WireRequest, GenerationRequest]]:
    """`count` tasks from `seed` that the validator's model can take (context, chat template)."""
    rng = random.Random(seed)
    chosen: list[tuple[translate.WireRequest, GenerationRequest]] = []
    for _ in range(count + MAX_TASK_REDRAWS):
        if len(chosen) == count:
            break
        body = wire_request(make_task(rng, max_tokens), model)
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


async def send_queries(
    client: EpistulaClient, queries: Sequence[Query], timeout_s: float
) -> list[Reply | Failure]:
    """Every query at once, each under its own deadline: a dead miner cannot stall the round."""
    return list(
        await asyncio.gather(
            *(
                client.call(
                    q.target, q.path, q.body, response_model=q.response_model, timeout_s=timeout_s
                )
                for q in queries
            )
        )
    )


def judge_round(
    queries: Sequence[Query], replies: Sequence[Reply | Failure], checker: Checker
) -> list[Result]:
    """Outcomes of one round: failures as they are, answers verified in one batch."""
    details: dict[int, str] = {}
    claims: list[tuple[int, translate.Claim]] = []
    for index, (query, reply) in enumerate(zip(queries, replies, strict=True)):
        if isinstance(reply, Failure):
            status = f" {reply.status}" if reply.status is not None else ""
            details[index] = f"{reply.reason.value}{status}"
            continue
        try:
            claims.append((index, translate.claim_of(query.request, reply.parsed)))
        except translate.MissingProof as exc:
            details[index] = f"no_proof: {exc}"
    verdicts = checker.check([claim for _, claim in claims])
    tokens: dict[int, int] = {}
    for (index, claim), verdict in zip(claims, verdicts, strict=True):
        details[index] = verdict
        tokens[index] = claim.completion_tokens
    results = []
    for index, (query, reply) in enumerate(zip(queries, replies, strict=True)):
        verified = details[index] == VERIFIED
        seconds = reply.latency_s if isinstance(reply, Reply) else None
        outcome = Outcome(verified, tokens.get(index, 0), seconds if verified else None)
        answered = isinstance(reply, Reply)
        wrong = answered and not verified
        results.append(
            Result(query.uid, query.target.hotkey, outcome, details[index], answered, wrong)
        )
    return results
