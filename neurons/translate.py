"""Between the wire (protocol/'s OpenAI-compatible schemas) and the model (inference/'s types).

The miner turns a request body into a `GenerationRequest` and a `Completion` back into a
response; the validator turns a task into a request body and a miner's response into the
claim the verifier checks. Every response carries the proof verification needs, whether or
not the request asked for logprobs: the completion's token ids, each token's logprob, and the
prompt token ids. Synthetic and organic requests therefore look the same to a miner.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from inference.types import (
    Completion,
    GenerationRequest,
    InvalidRequest,
    StreamDelta,
    TokenLogprob,
    Usage,
    VerifyItem,
)
from protocol import schemas as wire

CHAT_PATH = "/v1/chat/completions"
TEXT_PATH = "/v1/completions"
# OpenAI's defaults when a request leaves these out.
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0
# A chat request without max_tokens may generate up to this many tokens.
DEFAULT_CHAT_MAX_TOKENS = 256

WireRequest = wire.ChatCompletionRequest | wire.CompletionRequest
WireResponse = wire.ChatCompletion | wire.Completion
Decode = Callable[[Sequence[int]], str]


class MissingProof(ValueError):
    """A response without the token ids or logprobs verification needs: it earns nothing."""


def generation_request(body: WireRequest) -> GenerationRequest:
    """The model-side request for a wire request; InvalidRequest says what cannot be served."""
    common = dict(
        temperature=DEFAULT_TEMPERATURE if body.temperature is None else body.temperature,
        top_p=DEFAULT_TOP_P if body.top_p is None else body.top_p,
        seed=body.seed,
        stop=tuple(body.stop_sequences()),
    )
    if isinstance(body, wire.ChatCompletionRequest):
        messages = tuple({"role": m.role, "content": m.text()} for m in body.messages)
        top = (body.top_logprobs or 0) if body.logprobs else 0
        return GenerationRequest(
            messages=messages,
            max_tokens=body.token_limit() or DEFAULT_CHAT_MAX_TOKENS,
            top_logprobs=top,
            **common,
        )
    if not isinstance(body.prompt, str):
        raise InvalidRequest("prompts given as token ids are not served: send the prompt text")
    return GenerationRequest(
        prompt=body.prompt, max_tokens=body.max_tokens, top_logprobs=body.logprobs or 0, **common
    )


def _alternatives(top: Sequence[TokenLogprob], decode: Decode) -> list[wire.TopLogprob]:
    return [
        wire.TopLogprob(token=decode([alt.token_id]), logprob=alt.logprob, token_id=alt.token_id)
        for alt in top
    ]


def token_entry(
    token_id: int, logprob: float, top: Sequence[TokenLogprob], decode: Decode
) -> wire.TokenLogprob:
    return wire.TokenLogprob(
        token=decode([token_id]),
        logprob=logprob,
        token_id=token_id,
        top_logprobs=_alternatives(top, decode),
    )


def token_entries(completion: Completion, decode: Decode) -> list[wire.TokenLogprob]:
    """One wire logprob entry per completion token, with its id and any alternatives."""
    tops = completion.top_logprobs or ((),) * len(completion.token_ids)
    return [
        token_entry(token_id, logprob, top, decode)
        for token_id, logprob, top in zip(
            completion.token_ids, completion.logprobs, tops, strict=True
        )
    ]


def _usage(usage: Usage) -> wire.Usage:
    return wire.Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


def chat_response(completion: Completion, model: str, decode: Decode) -> wire.ChatCompletion:
    return wire.ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=model,
        choices=[
            wire.ChatChoice(
                message=wire.AssistantMessage(content=completion.text),
                finish_reason=completion.finish_reason,
                logprobs=wire.ChoiceLogprobs(content=token_entries(completion, decode)),
                token_ids=list(completion.token_ids),
            )
        ],
        usage=_usage(completion.usage),
        prompt_token_ids=list(completion.prompt_token_ids),
    )


def text_response(completion: Completion, model: str, decode: Decode) -> wire.Completion:
    entries = token_entries(completion, decode)
    offsets, position = [], 0
    for entry in entries:
        offsets.append(position)
        position += len(entry.token)
    legacy_top = (
        [{alt.token: alt.logprob for alt in entry.top_logprobs} for entry in entries]
        if completion.top_logprobs
        else None
    )
    return wire.Completion(
        id=f"cmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=model,
        choices=[
            wire.CompletionChoice(
                text=completion.text,
                finish_reason=completion.finish_reason,
                logprobs=wire.CompletionLogprobs(
                    tokens=[entry.token for entry in entries],
                    token_logprobs=list(completion.logprobs),
                    top_logprobs=legacy_top,
                    text_offset=offsets,
                    content=entries,
                ),
                token_ids=list(completion.token_ids),
            )
        ],
        usage=_usage(completion.usage),
        prompt_token_ids=list(completion.prompt_token_ids),
    )


def _chunk(
    delta: StreamDelta, chat: bool, ident: str, created: int, model: str, decode: Decode
) -> BaseModel:
    entry = token_entry(delta.token_id, delta.logprob, delta.top_logprobs, decode)
    if chat:
        return wire.ChatCompletionChunk(
            id=ident,
            created=created,
            model=model,
            choices=[
                wire.ChatChunkChoice(
                    delta=wire.ChatDelta(role="assistant", content=delta.text),
                    logprobs=wire.ChoiceLogprobs(content=[entry]),
                    token_ids=[delta.token_id],
                )
            ],
        )
    return wire.Completion(
        id=ident,
        created=created,
        model=model,
        choices=[
            wire.CompletionChoice(
                text=delta.text,
                logprobs=wire.CompletionLogprobs(
                    tokens=[entry.token], token_logprobs=[delta.logprob], content=[entry]
                ),
                token_ids=[delta.token_id],
            )
        ],
    )


def _final_chunk(
    completion: Completion, chat: bool, ident: str, created: int, model: str
) -> BaseModel:
    """The last event: finish reason, usage and prompt token ids (the stream's proof)."""
    extra = {"prompt_token_ids": list(completion.prompt_token_ids)}
    if chat:
        choice = wire.ChatChunkChoice(
            delta=wire.ChatDelta(), finish_reason=completion.finish_reason
        )
        return wire.ChatCompletionChunk(
            id=ident,
            created=created,
            model=model,
            choices=[choice],
            usage=_usage(completion.usage),
            **extra,
        )
    choice = wire.CompletionChoice(text="", finish_reason=completion.finish_reason)
    return wire.Completion(
        id=ident,
        created=created,
        model=model,
        choices=[choice],
        usage=_usage(completion.usage),
        **extra,
    )


async def stream_chunks(
    first: StreamDelta, rest: AsyncIterator[StreamDelta], chat: bool, model: str, decode: Decode
) -> AsyncIterator[BaseModel]:
    """Wire chunks for a stream of deltas: one per token, then the final one."""
    ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
    created = int(time.time())
    delta: StreamDelta | None = first
    while delta is not None:
        yield _chunk(delta, chat, ident, created, model, decode)
        if delta.completion is not None:
            yield _final_chunk(delta.completion, chat, ident, created, model)
            return
        delta = await anext(rest, None)


@dataclass(frozen=True)
class Claim:
    """What a miner's response claims, in the verifier's terms, plus the text it showed."""

    item: VerifyItem
    text: str

    @property
    def completion_tokens(self) -> int:
        return len(self.item.token_ids)


def claim_of(request: GenerationRequest, response: WireResponse) -> Claim:
    """The verifier's view of a response; MissingProof when it lacks ids or logprobs."""
    if len(response.choices) != 1:
        raise MissingProof(f"expected exactly one choice, got {len(response.choices)}")
    choice = response.choices[0]
    entries = choice.logprobs.content if choice.logprobs is not None else None
    if choice.token_ids is None or entries is None:
        raise MissingProof("the response has no token_ids or no per-token logprobs")
    if response.usage is None:
        raise MissingProof("the response has no usage counts")
    text = (choice.message.content or "") if isinstance(choice, wire.ChatChoice) else choice.text
    top = [
        [TokenLogprob(alt.token_id, alt.logprob) for alt in entry.top_logprobs] for entry in entries
    ]
    if any(alt.token_id is None for entry in entries for alt in entry.top_logprobs):
        raise MissingProof("a top_logprobs alternative has no token_id")
    usage = response.usage
    item = VerifyItem(
        request=request,
        token_ids=list(choice.token_ids),
        logprobs=[entry.logprob for entry in entries],
        finish_reason=str(choice.finish_reason),
        usage=Usage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
        prompt_token_ids=response.prompt_token_ids,
        top_logprobs=top if any(top) else None,
    )
    return Claim(item, text)


def shown_text_matches(claim: Claim, decode: Decode) -> bool:
    """Whether the text a user would read is what the verified tokens say.

    The verifier checks token ids; this closes the gap of a miner returning verified tokens
    with different text. A matched stop string, and anything after it, is left out of the text.
    """
    decoded = decode(list(claim.item.token_ids))
    found = [i for i in (decoded.find(stop) for stop in claim.item.request.stop) if i >= 0]
    return (decoded[: min(found)] if found else decoded) == claim.text


def assembled(chunks: Sequence[wire.ChatCompletionChunk | wire.Completion]) -> WireResponse:
    """The whole response a stream of chunks adds up to, with its proof (token ids, logprobs,
    usage, prompt token ids), for `claim_of`; MissingProof when the stream is empty or mixes
    kinds."""
    if not chunks:
        raise MissingProof("the stream has no chunks")
    chat = isinstance(chunks[0], wire.ChatCompletionChunk)
    if any(isinstance(chunk, wire.ChatCompletionChunk) != chat for chunk in chunks):
        raise MissingProof("the stream mixes chat and text chunks")
    texts: list[str] = []
    token_ids: list[int] = []
    entries: list[wire.TokenLogprob] = []
    finish_reason = None
    usage = None
    prompt_ids = None
    for chunk in chunks:
        usage = chunk.usage or usage
        # Text chunks declare prompt_token_ids; chat chunks carry it as an extra field.
        found = getattr(chunk, "prompt_token_ids", None)
        found = found if found is not None else (chunk.model_extra or {}).get("prompt_token_ids")
        prompt_ids = found if found is not None else prompt_ids
        for choice in chunk.choices:
            text = choice.delta.content if chat else choice.text
            texts.append(text or "")
            token_ids += choice.token_ids or []
            if choice.logprobs is not None and choice.logprobs.content:
                entries += choice.logprobs.content
            finish_reason = choice.finish_reason or finish_reason
    last = chunks[-1]
    proof = dict(
        id=last.id,
        created=last.created,
        model=last.model,
        usage=usage,
        prompt_token_ids=prompt_ids,
    )
    if chat:
        choice = wire.ChatChoice(
            message=wire.AssistantMessage(content="".join(texts)),
            finish_reason=finish_reason,
            logprobs=wire.ChoiceLogprobs(content=entries),
            token_ids=token_ids,
        )
        return wire.ChatCompletion(choices=[choice], **proof)
    text_choice = wire.CompletionChoice(
        text="".join(texts),
        finish_reason=finish_reason,
        logprobs=wire.CompletionLogprobs(content=entries),
        token_ids=token_ids,
    )
    return wire.Completion(choices=[text_choice], **proof)
