"""A backend with the Engine's interface that forwards to an OpenAI-compatible server.

    backend = OpenAIBackend("http://127.0.0.1:8000/v1", model="Qwen/Qwen2.5-7B-Instruct")
    completion = await backend.generate(request)     # same Completion as Engine.generate
    async for delta in backend.stream(request): ...  # same StreamDelta as Engine.stream
    await backend.close()

For miners who outgrow the built-in engine: run vLLM (or another server with the same
extensions) and point this at it. ``model`` is the name the server serves the model under
(vLLM's ``--served-model-name``; its default is the model's path or hub name) and ``api_key``
the key it expects (vLLM's ``--api-key``). Chat requests go to ``/chat/completions``, text
prompts to ``/completions``, with ``temperature``, ``top_p``, ``seed`` (a random one when the
request has none), ``stop``, ``max_tokens`` and ``ignore_eos`` passed through. The server must
sample with the subnet's sampler: vLLM does with ``--logits-processors
inference.vllm_sampler:SubnetSampler``. ``served_models()`` lists what the server serves
(``GET /models``); inference/backend_checks.py runs the start-up checks, the sampler's among
them (inference.sampler_probe).

What verification needs, and which server features it relies on:
- per-token logprobs of the raw model distribution (``logprobs``/``top_logprobs``; vLLM's
  default logprobs mode is the raw one, matching inference.types);
- the token ids, from vLLM's ``return_token_ids`` (``token_ids`` on the choice and
  ``prompt_token_ids``) or else from ``return_tokens_as_token_ids`` (each logprob entry's
  token written ``token_id:N``); both are requested, and a server that honours neither is an
  error, because re-tokenising text does not give back the generated ids;
- the end-of-sequence token counted among the completion's tokens and logprobs when
  generation stops on it (vLLM does), so that the verifier can check the stop.
A text completion's ``logprobs`` is the number of alternatives per token, and servers differ on
0 (vLLM: the sampled token's logprob and no alternatives; others: no logprobs at all), so at
least 1 is asked for and alternatives beyond the request's ``top_logprobs`` are dropped.
Errors: a 400/422 from the server raises InvalidRequest with its message; anything else that
goes wrong raises BackendError, with a message of one line that says what failed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

import httpx

from inference.types import (
    FINISH_REASONS,
    MAX_SEED,
    Completion,
    GenerationRequest,
    InvalidRequest,
    StreamDelta,
    TokenLogprob,
    Usage,
)

TOKEN_ID_PREFIX = "token_id:"
DEFAULT_TIMEOUT_S = 120.0
_CLIENT_ERRORS = (400, 422)
_UNAUTHORIZED = (401, 403)
# Most of a server's error body worth quoting in a one-line message.
QUOTED_BODY_CHARS = 300


class BackendError(RuntimeError):
    """The server failed or answered something this backend cannot verify."""


class BackendUnauthorized(BackendError):
    """The server refused the API key (or the lack of one)."""


class OpenAIBackend:
    """Generation through an external OpenAI-compatible server; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        client: httpx.AsyncClient | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.AsyncClient(headers=headers, timeout=timeout_s)
        self._owns_client = client is None

    async def served_models(self) -> list[str]:
        """The model names the server serves (its ``GET /models``)."""
        url = f"{self.base_url}/models"
        try:
            response = await self._client.get(url)
        except httpx.HTTPError as exc:
            raise BackendError(f"could not reach the server at {url}: {_cause(exc)}") from None
        data = _json_or_raise(response, url)
        try:
            return [str(entry["id"]) for entry in data["data"]]
        except (KeyError, TypeError) as exc:
            raise BackendError(f"unexpected answer to GET {url}: {exc!r}") from None

    async def generate(self, request: GenerationRequest) -> Completion:
        url, payload = self._payload(request, stream=False)
        try:
            response = await self._client.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise BackendError(f"could not reach the server at {url}: {_cause(exc)}") from None
        data = _json_or_raise(response, url)
        try:
            return _completion(data, request.is_chat, request.top_logprobs)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BackendError(f"unexpected response from {url}: {exc!r}") from None

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        url, payload = self._payload(request, stream=True)
        parts = _StreamParts()
        held: StreamDelta | None = None  # the last delta waits to carry the Completion
        try:
            async with self._client.stream("POST", url, json=payload) as response:
                if response.status_code != 200:
                    await response.aread()
                    _json_or_raise(response, url)
                async for line in response.aiter_lines():
                    for delta in _stream_line(parts, line, request, url):
                        if held is not None:
                            yield held
                        held = delta
        except httpx.HTTPError as exc:
            raise BackendError(f"the stream from {url} failed: {_cause(exc)}") from None
        completion = parts.completion()
        yield replace(held, completion=completion)

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> OpenAIBackend:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    def _payload(self, request: GenerationRequest, *, stream: bool) -> tuple[str, dict]:
        payload: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "return_token_ids": True,
            "return_tokens_as_token_ids": True,
        }
        # Always a seed: the server's sampler (inference.vllm_sampler) samples only seeded
        # requests with the subnet's sampler.
        payload["seed"] = secrets.randbelow(MAX_SEED + 1) if request.seed is None else request.seed
        if request.stop:
            payload["stop"] = list(request.stop)
        if request.ignore_eos:
            payload["ignore_eos"] = True
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        if request.is_chat:
            payload["messages"] = [dict(m) for m in request.messages or ()]
            payload["logprobs"] = True
            payload["top_logprobs"] = request.top_logprobs
            return f"{self.base_url}/chat/completions", payload
        payload["prompt"] = request.prompt
        # At least 1: servers disagree on what 0 means (see the module docstring).
        payload["logprobs"] = max(1, request.top_logprobs)
        return f"{self.base_url}/completions", payload


def _cause(exc: Exception) -> str:
    """An httpx failure in one line: its type and message."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _stream_line(
    parts: _StreamParts, line: str, request: GenerationRequest, url: str
) -> list[StreamDelta]:
    """The deltas in one server-sent-event line (none for comments, blanks and [DONE])."""
    if not line.startswith("data:"):
        return []
    body = line[len("data:") :].strip()
    if body == "[DONE]":
        return []
    try:
        return parts.add(json.loads(body), request.is_chat, request.top_logprobs)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise BackendError(f"unexpected stream chunk from {url}: {exc!r}") from None


def _json_or_raise(response: httpx.Response, url: str) -> dict:
    quoted = " ".join(response.text[:QUOTED_BODY_CHARS].split())
    if response.status_code in _CLIENT_ERRORS:
        raise InvalidRequest(f"the server refused the request: {quoted}")
    if response.status_code in _UNAUTHORIZED:
        raise BackendUnauthorized(
            f"{url} answered {response.status_code} (the API key is missing or wrong): {quoted}"
        )
    if response.status_code != 200:
        raise BackendError(f"{url} answered {response.status_code}: {quoted}")
    return response.json()


def _token_id(token: str) -> int:
    if not token.startswith(TOKEN_ID_PREFIX):
        raise BackendError(
            "the server returned tokens as text, not ids: use a server that supports "
            "return_token_ids or return_tokens_as_token_ids (vLLM does)"
        )
    return int(token[len(TOKEN_ID_PREFIX) :])


def _entries(
    choice: Mapping, is_chat: bool, top_k: int
) -> list[tuple[str, float, tuple[TokenLogprob, ...]]]:
    """(token, logprob, up to `top_k` alternatives) per token, from either API's layout."""
    logprobs = choice.get("logprobs")
    if not logprobs:
        return []
    if is_chat:
        return [
            (
                e["token"],
                e["logprob"],
                tuple(
                    TokenLogprob(_token_id(t["token"]), t["logprob"])
                    for t in (e.get("top_logprobs") or ())[:top_k]
                ),
            )
            for e in logprobs.get("content") or []
        ]
    tops = logprobs.get("top_logprobs") or [None] * len(logprobs["tokens"])
    return [
        (
            token,
            logprob,
            tuple(TokenLogprob(_token_id(t), v) for t, v in list((top or {}).items())[:top_k]),
        )
        for token, logprob, top in zip(
            logprobs["tokens"], logprobs["token_logprobs"], tops, strict=True
        )
    ]


def _finish(reason: str | None) -> str:
    if reason not in FINISH_REASONS:
        raise BackendError(f"finish_reason {reason!r} cannot be verified: expected stop or length")
    return reason


def _completion(data: Mapping, is_chat: bool, top_k: int) -> Completion:
    choice = data["choices"][0]
    entries = _entries(choice, is_chat, top_k)
    token_ids = choice.get("token_ids") or [_token_id(token) for token, _, _ in entries]
    if len(entries) != len(token_ids):
        raise BackendError(
            f"the server returned {len(entries)} logprobs for {len(token_ids)} tokens: "
            "ask a server that returns logprobs (logprobs=true)"
        )
    prompt_ids = tuple(data.get("prompt_token_ids") or choice.get("prompt_token_ids") or ())
    text = choice["message"]["content"] if is_chat else choice["text"]
    return Completion(
        text=text or "",
        token_ids=tuple(int(t) for t in token_ids),
        logprobs=tuple(float(lp) for _, lp, _ in entries),
        finish_reason=_finish(choice.get("finish_reason")),
        usage=_usage(data.get("usage") or {}, len(prompt_ids), len(token_ids)),
        prompt_token_ids=prompt_ids,
        top_logprobs=tuple(top for _, _, top in entries) if any(e[2] for e in entries) else (),
    )


def _usage(usage: Mapping, prompt_tokens: int, completion_tokens: int) -> Usage:
    """The server's usage counts, filled in from the tokens where it gave none."""
    return Usage(
        int(usage.get("prompt_tokens", prompt_tokens)),
        int(usage.get("completion_tokens", completion_tokens)),
        int(usage.get("total_tokens", prompt_tokens + completion_tokens)),
    )


class _StreamParts:
    """Accumulates stream chunks into deltas and, at the end, one Completion."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.token_ids: list[int] = []
        self.logprobs: list[float] = []
        self.top: list[tuple[TokenLogprob, ...]] = []
        self.prompt_ids: tuple[int, ...] = ()
        self.finish_reason: str | None = None
        self.usage: Mapping | None = None

    def add(self, chunk: Mapping, is_chat: bool, top_k: int) -> list[StreamDelta]:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        if chunk.get("prompt_token_ids"):
            self.prompt_ids = tuple(chunk["prompt_token_ids"])
        if not chunk.get("choices"):
            return []
        choice = chunk["choices"][0]
        text = (choice.get("delta") or {}).get("content") if is_chat else choice.get("text")
        entries = _entries(choice, is_chat, top_k)
        ids = choice.get("token_ids") or [_token_id(token) for token, _, _ in entries]
        if len(ids) != len(entries):
            raise BackendError(f"a stream chunk has {len(entries)} logprobs for {len(ids)} tokens")
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        self.text.append(text or "")
        deltas = []
        for i, (token_id, (_, logprob, top)) in enumerate(zip(ids, entries, strict=True)):
            self.token_ids.append(int(token_id))
            self.logprobs.append(float(logprob))
            self.top.append(top)
            last = i == len(ids) - 1
            deltas.append(
                StreamDelta(int(token_id), float(logprob), (text or "") if last else "", top)
            )
        return deltas

    def completion(self) -> Completion:
        if not self.token_ids:
            raise BackendError("the stream ended without any token")
        return Completion(
            text="".join(self.text),
            token_ids=tuple(self.token_ids),
            logprobs=tuple(self.logprobs),
            finish_reason=_finish(self.finish_reason),
            usage=_usage(self.usage or {}, len(self.prompt_ids), len(self.token_ids)),
            prompt_token_ids=self.prompt_ids,
            top_logprobs=tuple(self.top) if any(self.top) else (),
        )
