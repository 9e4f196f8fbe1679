"""OpenAI-compatible request and response bodies, extended with what verification needs.

Requests (`ChatCompletionRequest`, `CompletionRequest`) forbid unknown fields, so a parameter
this subnet does not implement is a clear 422 rather than silently ignored. Responses
(`ChatCompletion`, `ChatCompletionChunk`, `Completion`) use OpenAI's field names, so any OpenAI
client parses them, and allow extra fields, as OpenAI's own types do. The extensions:

- `choices[i].token_ids`: the completion's token ids (in a stream chunk: the ids of this delta's
  tokens), the field name vLLM uses.
- `prompt_token_ids` on the response: the prompt as the miner tokenized it.
- `token_id` on every per-token logprob entry and on each top-k alternative, so a verifier does
  not have to re-tokenize strings (which is ambiguous).
- `logprobs.content` on text completions: the same per-token entries as chat, next to the legacy
  `tokens` / `token_logprobs` / `top_logprobs` lists.

Streaming: chat chunks are `ChatCompletionChunk`; text completion chunks are `Completion`
objects, as OpenAI streams them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_STOP_SEQUENCES = 4
MAX_TOP_LOGPROBS = 20
DEFAULT_COMPLETION_MAX_TOKENS = 16  # OpenAI's default for text completions
MAX_TEMPERATURE = 2.0

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------------------- requests


class TextPart(_Request):
    type: Literal["text"]
    text: str


class ChatMessage(_Request):
    role: Role
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        """The message's text, whether sent as a string or as text parts."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Request):
    include_usage: bool = False


class _Sampling(_Request):
    """Fields shared by chat and text completions."""

    model: str = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=MAX_TEMPERATURE)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1, description="only one choice per request is served")
    user: str | None = None

    @model_validator(mode="after")
    def _check_stop(self) -> _Sampling:
        if isinstance(self.stop, list) and len(self.stop) > MAX_STOP_SEQUENCES:
            raise ValueError(f"stop takes at most {MAX_STOP_SEQUENCES} sequences")
        return self

    def stop_sequences(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)

    @model_validator(mode="after")
    def _check_logprobs(self) -> ChatCompletionRequest:
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    def token_limit(self) -> int | None:
        """`max_completion_tokens` (OpenAI's current name) or else `max_tokens`."""
        return self.max_completion_tokens if self.max_completion_tokens else self.max_tokens


class CompletionRequest(_Sampling):
    prompt: str | list[int] = Field(description="text, or the prompt's token ids")
    max_tokens: int = Field(default=DEFAULT_COMPLETION_MAX_TOKENS, ge=1)
    logprobs: int | None = Field(
        default=None, ge=0, le=MAX_TOP_LOGPROBS, description="top-k alternatives per token"
    )

    @model_validator(mode="after")
    def _check_prompt(self) -> CompletionRequest:
        if isinstance(self.prompt, list):
            if not self.prompt:
                raise ValueError("prompt token ids must not be empty")
            if min(self.prompt) < 0:
                raise ValueError("prompt token ids must be >= 0")
        return self


# ---------------------------------------------------------------------------- responses


class TopLogprob(_Response):
    token: str
    logprob: float
    bytes: list[int] | None = None
    token_id: int | None = None


class TokenLogprob(_Response):
    """One generated token: its text, logprob, id, and the top-k alternatives if asked."""

    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] = Field(default_factory=list)
    token_id: int | None = None


class ChoiceLogprobs(_Response):
    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class Usage(_Response):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)

    @model_validator(mode="after")
    def _check_total(self) -> Usage:
        if self.total_tokens != self.prompt_tokens + self.completion_tokens:
            raise ValueError("usage.total_tokens must equal prompt_tokens + completion_tokens")
        return self


def _check_ids_match_logprobs(
    token_ids: list[int] | None, entries: list[TokenLogprob] | None
) -> None:
    if token_ids is not None and entries is not None and len(token_ids) != len(entries):
        raise ValueError(
            f"{len(token_ids)} token_ids but {len(entries)} logprob entries; they must pair up"
        )


class AssistantMessage(_Response):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    refusal: str | None = None


class ChatChoice(_Response):
    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason | None = None
    logprobs: ChoiceLogprobs | None = None
    token_ids: list[int] | None = None

    @model_validator(mode="after")
    def _check_pairs(self) -> ChatChoice:
        _check_ids_match_logprobs(self.token_ids, self.logprobs.content if self.logprobs else None)
        return self


class ChatCompletion(_Response):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    prompt_token_ids: list[int] | None = None


class ChatDelta(_Response):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(_Response):
    index: int = 0
    delta: ChatDelta
    finish_reason: FinishReason | None = None
    logprobs: ChoiceLogprobs | None = None
    token_ids: list[int] | None = None

    @model_validator(mode="after")
    def _check_pairs(self) -> ChatChunkChoice:
        _check_ids_match_logprobs(self.token_ids, self.logprobs.content if self.logprobs else None)
        return self


class ChatCompletionChunk(_Response):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class CompletionLogprobs(_Response):
    """OpenAI's legacy logprobs lists, plus `content`: per-token entries with ids."""

    tokens: list[str] = Field(default_factory=list)
    token_logprobs: list[float | None] = Field(default_factory=list)
    top_logprobs: list[dict[str, float]] | None = None
    text_offset: list[int] = Field(default_factory=list)
    content: list[TokenLogprob] | None = None


class CompletionChoice(_Response):
    index: int = 0
    text: str
    finish_reason: FinishReason | None = None
    logprobs: CompletionLogprobs | None = None
    token_ids: list[int] | None = None

    @model_validator(mode="after")
    def _check_pairs(self) -> CompletionChoice:
        _check_ids_match_logprobs(self.token_ids, self.logprobs.content if self.logprobs else None)
        return self


class Completion(_Response):
    """A text completion, and also each chunk of a streamed one."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    prompt_token_ids: list[int] | None = None


# ---------------------------------------------------------------------------- errors


class ErrorDetail(_Response):
    code: str
    message: str


class ErrorBody(_Response):
    """Every refusal's body: `{"error": {"code": ..., "message": ...}}`."""

    error: ErrorDetail
