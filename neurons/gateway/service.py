"""The gateway: OpenAI's API in front of the subnet, inside a validator.

    gateway = Gateway(validator, GatewayStore.open(folder))
    await gateway.start("127.0.0.1", 8000)      # serves /v1/... on its own port
    ...
    await gateway.stop()

Per request, in order, and nothing reaches a miner before every check passed:
 1. the API key (`Authorization: Bearer ...`): missing, unknown or revoked is 401;
 2. the key's limits (neurons/gateway/limits.py): 429 with Retry-After;
 3. the body: JSON of OpenAI's fields (protocol/schemas.py), the served model (404 for another),
    a seed in range, a prompt and max_tokens that fit the model's context (400, saying what to
    fix); a request without a seed gets one here, and the answer is verified against it;
 4. a miner, picked and retried by neurons/gateway/forward.py (503 with Retry-After when none
    can answer);
 5. the answer, without its proof, to the user; its tokens counted for the key (SQLite) and
    its limits; the miner's speed noted for routing; its prompt kept for synthetic tasks.

A share (`--gateway.verify_share`) of answers is verified after the user has it, on the
validator's verifier thread with the seed the gateway sent: a proven-wrong answer is folded
into the validator's scores as a round's would be (`Validator.fold_organic`), so that miner
stops getting traffic at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from typing import Any, Protocol

from loguru import logger
from starlette.responses import JSONResponse, Response, StreamingResponse

from inference.sampler import MAX_SEED
from inference.types import InvalidRequest, ModelOutOfMemory
from neurons import checking, translate
from neurons.gateway import errors, responses
from neurons.gateway.forward import Answer, Forwarder, OpenStream, Settings
from neurons.gateway.limits import KeyLimiter
from neurons.gateway.metrics import FAIL, PASS, SERVED, UNVERIFIED, GatewayMetrics, MinuteTally
from neurons.gateway.organic import OrganicPrompts
from neurons.gateway.routing import Router, candidates_of, decoding_speed
from neurons.gateway.store import ApiKey, GatewayStore
from protocol import schemas as wire
from protocol.client import EpistulaClient, Failure, StreamReply
from protocol.refusals import Refused
from protocol.server import parse_body

BEARER = "bearer "
LOG_EVERY_S = 60.0
# Clients (connection pools) the gateway's calls take turns over. Profiled with 64 concurrent
# streams to one miner (scripts/bench/gateway.py's load), one pool spent most of the gateway's
# CPU in httpcore's pool bookkeeping (1.9 million is_idle calls in 14 s, 29 streams/s);
# with four that cost is gone (40 streams/s under the same profiler).
CLIENT_POOLS = 4


class Host(Protocol):
    """What the gateway uses of its validator (neurons/validator.py)."""

    metagraph: Any
    uid: int | None
    scores: Any  # incentive.scoring.MovingAverageScores
    failed_verification: set[str]
    client: Any  # protocol.client.EpistulaClient, signing as the validator
    checker: checking.Checker
    verifier_thread: Any  # the validator's one verifier thread
    model_name: str
    task_source: Any
    metrics: Any  # neurons.metrics.NeuronMetrics: its registry gets the gateway's metrics

    def fold_organic(self, result: checking.Result) -> None: ...


class Gateway:
    def __init__(
        self,
        host: Host,
        store: GatewayStore,
        *,
        verify_share: float,
        organic_share: float,
        settings: Settings,
        rng: random.Random | None = None,
    ) -> None:
        self.host = host
        self.store = store
        self.verify_share = verify_share
        self.rng = rng or random.Random()
        self.limiter = KeyLimiter()
        self.router = Router()
        self.metrics = GatewayMetrics(host.metrics.registry)
        # The validator's key, in pools of the gateway's own (closed with the gateway).
        self.clients = [EpistulaClient(host.client.keypair) for _ in range(CLIENT_POOLS)]
        self.forwarder = Forwarder(self.clients, self.router, settings, self.metrics, self.rng)
        self.prompts = OrganicPrompts(share=organic_share, fallback=host.task_source)
        host.task_source = self.prompts
        self.tally = MinuteTally()
        self.verifying: set[asyncio.Task] = set()

    @property
    def model(self) -> str:
        return self.host.model_name

    # -- checks -------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> ApiKey:
        if not authorization or not authorization.lower().startswith(BEARER):
            raise errors.invalid_key(
                "no API key: send `Authorization: Bearer KEY` (the openai client's api_key); "
                "the gateway's operator creates keys with `subnet gateway keys create`"
            )
        key = self.store.authenticate(authorization[len(BEARER) :].strip())
        if key is None:
            raise errors.invalid_key("this API key is not known here: check it, or ask for one")
        if not key.active:
            raise errors.invalid_key(f"the API key {key.name} was revoked: ask for a new one")
        return key

    def admit(self, key: ApiKey) -> None:
        refusal = self.limiter.admit(key, time.monotonic())
        if refusal is not None:
            raise errors.rate_limited(refusal.message, refusal.retry_after_s, refusal.code)

    def parse(self, raw: bytes, chat: bool) -> translate.WireRequest:
        model = wire.ChatCompletionRequest if chat else wire.CompletionRequest
        parsed = parse_body(model, raw)
        if isinstance(parsed, Refused):
            raise errors.bad_request(parsed.message, code=parsed.code)
        assert isinstance(parsed, (wire.ChatCompletionRequest, wire.CompletionRequest))
        if parsed.model != self.model:
            raise errors.unknown_model(parsed.model, self.model)
        if parsed.seed is not None and not 0 <= parsed.seed <= MAX_SEED:
            raise errors.bad_request(
                f"seed must be between 0 and {MAX_SEED}, got {parsed.seed}", param="seed"
            )
        return parsed

    def prepare(self, body: translate.WireRequest):
        """The body a miner gets (a seed always; no user field) and the model-side request."""
        seed = body.seed if body.seed is not None else secrets.randbelow(MAX_SEED + 1)
        sent = body.model_copy(update={"seed": seed, "user": None, "stream_options": None})
        try:
            request = translate.generation_request(sent)
        except InvalidRequest as exc:
            raise errors.bad_request(str(exc)) from None
        if not self.host.checker.fits(request):
            raise errors.bad_request(
                "the prompt and max_tokens do not fit the model's context (or its chat template "
                "refuses these messages): shorten the prompt or lower max_tokens",
                param="messages" if request.is_chat else "prompt",
                code="context_length_exceeded",
            )
        return sent, request

    # -- requests -----------------------------------------------------------------------

    async def complete(self, raw: bytes, authorization: str | None, chat: bool) -> Response:
        """One POST to /v1/chat/completions (chat) or /v1/completions."""
        key: ApiKey | None = None
        try:
            key = self.authenticate(authorization)
            self.admit(key)
            body = self.parse(raw, chat)
            sent, request = self.prepare(body)
            candidates = candidates_of(
                self.host.metagraph,
                self.host.uid,
                self.host.scores,
                self.host.failed_verification,
            )
            path = translate.CHAT_PATH if chat else translate.TEXT_PATH
            if body.stream:
                chunk_model = wire.ChatCompletionChunk if chat else wire.Completion
                stream = await self.forwarder.open_stream(candidates, path, sent, chunk_model)
                return StreamingResponse(
                    self._relay(stream, key, body, sent, request),
                    media_type="text/event-stream",
                    headers={"Cache-Control": "no-cache"},
                )
            response_model = wire.ChatCompletion if chat else wire.Completion
            answer = await self.forwarder.answer(candidates, path, sent, request, response_model)
        except errors.ApiError as error:
            self._refused(key, error)
            return error.response()
        self._served(key, body, answer.pick, answer.claim, answer.attempts)
        usage = answer.reply.parsed.usage
        ttft = answer.reply.latency_s  # a whole answer: its first token comes with the last
        self.metrics.ttft.observe(ttft)
        self.tally.ttft_s.append(ttft)
        speed = decoding_speed(answer.claim.completion_tokens, answer.reply.latency_s)
        self.router.succeeded(answer.pick.hotkey, 0.0, speed)
        self._note_miner(answer.pick, answer.claim.completion_tokens, answer.reply.latency_s)
        self._maybe_verify(answer, sent, request)
        view = responses.user_view(answer.reply.parsed, body, self.model)
        view["usage"] = usage.model_dump() if usage is not None else None
        return JSONResponse(view)

    async def _relay(self, stream: OpenStream, key: ApiKey, body, sent, request):
        """The user's event stream: the miner's chunks as they come, then the accounting."""
        usage = responses.wants_stream_usage(body)
        chunks = [stream.first]
        finished = False
        try:
            yield responses.event(responses.user_view(stream.first, body, self.model, usage=usage))
            async for chunk in stream.rest():
                chunks.append(chunk)
                yield responses.event(responses.user_view(chunk, body, self.model, usage=usage))
            outcome = stream.call.result()
            if isinstance(outcome, Failure):
                self.router.failed(stream.pick.hotkey, time.monotonic())
                error = errors.upstream_failed(
                    f"the miner's stream broke off ({outcome.reason.value}: {outcome.message}); "
                    "retry the request"
                )
                self._refused(key, error)
                yield responses.event(error.body())
            else:
                self._stream_served(stream, outcome, key, body, sent, request, chunks)
            finished = True
            yield responses.DONE
        finally:
            if not finished:  # the user went away mid-stream
                await stream.close()

    def _stream_served(
        self,
        stream: OpenStream,
        reply: StreamReply,
        key: ApiKey,
        body,
        sent,
        request,
        chunks: list,
    ) -> None:
        try:
            claim = translate.claim_of(request, translate.assembled(chunks))
        except translate.MissingProof as exc:
            # Served, but unprovable: charged by the tokens seen; the miner loses its standing
            # with the router as for any failure.
            logger.warning("uid {} streamed an answer without its proof: {}", stream.pick.uid, exc)
            self.router.failed(stream.pick.hotkey, time.monotonic())
            tokens = sum(len(c.choices[0].token_ids or []) for c in chunks if c.choices)
            self._account(key, 0, tokens)
            return
        self._served(key, body, stream.pick, claim, stream.attempts)
        self.metrics.ttft.observe(stream.ttft_s)
        self.tally.ttft_s.append(stream.ttft_s)
        first = reply.first_chunk_s or 0.0
        generation_s = max(0.0, reply.latency_s - first)
        speed = decoding_speed(claim.completion_tokens - 1, generation_s)
        self.router.succeeded(stream.pick.hotkey, first, speed)
        self._note_miner(stream.pick, claim.completion_tokens, reply.latency_s)
        self._maybe_verify(Answer(stream.pick, reply, claim, stream.attempts), sent, request)

    # -- accounting ---------------------------------------------------------------------

    def _account(self, key: ApiKey, prompt_tokens: int, completion_tokens: int) -> None:
        self.store.record_usage(
            key.id, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, error=False
        )
        self.limiter.spend(key.id, prompt_tokens + completion_tokens, time.monotonic())
        self.metrics.tokens.labels(kind="prompt").inc(prompt_tokens)
        self.metrics.tokens.labels(kind="completion").inc(completion_tokens)
        self.tally.completion_tokens += completion_tokens

    def _served(self, key: ApiKey, body, pick, claim: translate.Claim, attempts: int) -> None:
        usage = claim.item.usage
        self._account(key, usage.prompt_tokens, usage.completion_tokens)
        self.metrics.requests.labels(outcome=SERVED).inc()
        self.metrics.miner_requests.labels(uid=str(pick.uid)).inc()
        self.tally.served += 1
        self.tally.retries += attempts - 1
        self.tally.per_uid[pick.uid] = self.tally.per_uid.get(pick.uid, 0) + 1
        self.prompts.add(body)

    def _refused(self, key: ApiKey | None, error: errors.ApiError) -> None:
        code = error.code or str(error.status)
        self.metrics.requests.labels(outcome=code).inc()
        self.tally.errors[code] = self.tally.errors.get(code, 0) + 1
        if key is not None:
            self.store.record_usage(key.id, error=True)

    def _note_miner(self, pick, tokens: int, seconds: float) -> None:
        self.store.record_miner(pick.hotkey, pick.uid, tokens, seconds)
        speed = decoding_speed(tokens, seconds)
        if speed is not None:
            self.metrics.tokens_per_second.observe(speed)

    # -- organic verification -----------------------------------------------------------

    def _maybe_verify(self, answer: Answer, sent, request) -> None:
        if self.rng.random() >= self.verify_share:
            return
        task = asyncio.create_task(self.verify(answer, sent, request))
        self.verifying.add(task)
        task.add_done_callback(self.verifying.discard)

    async def verify(self, answer: Answer, sent, request) -> checking.Result:
        """Verify one served answer with the validator's verifier; fold a proven-wrong one."""
        query = checking.Query(answer.pick.uid, answer.pick.target, sent, request)
        loop = asyncio.get_running_loop()
        try:
            verdicts = await loop.run_in_executor(
                self.host.verifier_thread, self.host.checker.check, [answer.claim]
            )
        except ModelOutOfMemory:
            self._count_check(UNVERIFIED)
            return checking.unverified(query, answer.reply, answer.claim, checking.OUT_OF_MEMORY)
        result = checking.judged(query, answer.reply, answer.claim, verdicts[0])
        self._count_check(PASS if result.detail == checking.VERIFIED else FAIL)
        if result.proven_wrong:
            logger.warning(
                "organic answer of uid {} failed verification ({}): its score is reset",
                answer.pick.uid,
                result.detail,
            )
        self.host.fold_organic(result)
        return result

    def _count_check(self, result: str) -> None:
        self.metrics.verifications.labels(result=result).inc()
        self.tally.verified[result] = self.tally.verified.get(result, 0) + 1

    async def settle(self) -> None:
        """Wait for the verifications in flight (tests, shutdown)."""
        while self.verifying:
            await asyncio.gather(*list(self.verifying), return_exceptions=True)

    # -- the minute log -----------------------------------------------------------------

    async def log_every_minute(self, every_s: float = LOG_EVERY_S) -> None:
        while True:
            await asyncio.sleep(every_s)
            tally, self.tally = self.tally, MinuteTally()
            logger.info("{}", tally.line(every_s))

    async def close(self) -> None:
        for task in list(self.verifying):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*list(self.verifying), return_exceptions=True)
        await asyncio.gather(*(client.aclose() for client in self.clients))
        self.store.close()
