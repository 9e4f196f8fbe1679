"""A small OpenAI-compatible server in the manner of vLLM, backed by the tiny Engine.

It answers /v1/models, /v1/chat/completions and /v1/completions (plain and streamed) with
logprobs, top_logprobs and token ids in vLLM's layouts. ``ids`` picks how token ids come back:
"token_ids" (vLLM's return_token_ids), "token_id_strings" (only return_tokens_as_token_ids)
or "text" (neither, as a server without those extensions would). ``fail_status`` makes every
answer that HTTP error. ``own_sampler`` replaces every request's seed with one of the server's
own, as a vLLM without the subnet's logits processor samples from its own generator.
``payloads`` keeps what clients sent. Like vLLM, it serves one model
name (``served_name``; a request for another gets 404), wants ``api_key`` as a bearer token
when one is set (401 otherwise), and gives raw logprobs unless ``logprobs_mode`` is
"processed" (alternatives after temperature, as vLLM's processed_logprobs: gaps times 1/T).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from inference.engine import Engine
from inference.types import MAX_SEED, Completion, GenerationRequest, InvalidRequest, TokenLogprob

SERVED_NAME = "tiny"


class FakeOpenAIServer:
    def __init__(
        self,
        engine: Engine,
        *,
        ids: str = "token_ids",
        fail_status: int | None = None,
        served_name: str = SERVED_NAME,
        api_key: str | None = None,
        logprobs_mode: str = "raw",
        own_sampler: bool = False,
    ):
        self.engine = engine
        self.own_sampler = own_sampler
        self.ids = ids
        self.fail_status = fail_status
        self.served_name = served_name
        self.api_key = api_key
        self.logprobs_mode = logprobs_mode
        self.payloads: list[dict] = []
        self.app = FastAPI()
        self.app.get("/v1/models")(self._models)
        self.app.post("/v1/chat/completions")(self._chat)
        self.app.post("/v1/completions")(self._text)

    def _refusal(self, request: Request) -> JSONResponse | None:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        if self.fail_status:
            return JSONResponse({"error": "failing on purpose"}, status_code=self.fail_status)
        return None

    async def _models(self, request: Request):
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return JSONResponse({"object": "list", "data": [{"id": self.served_name}]})

    async def _chat(self, request: Request):
        return await self._answer(request, await request.json(), chat=True)

    async def _text(self, request: Request):
        return await self._answer(request, await request.json(), chat=False)

    async def _answer(self, http: Request, body: dict, *, chat: bool):
        self.payloads.append(body)
        refusal = self._refusal(http)
        if refusal is not None:
            return refusal
        if body.get("model") != self.served_name:
            message = f"The model `{body.get('model')}` does not exist."
            return JSONResponse(
                {"object": "error", "message": message, "type": "NotFoundError", "code": 404},
                status_code=404,
            )
        try:
            request = _generation_request(body, chat)
            if self.own_sampler:
                request = dataclasses.replace(request, seed=secrets.randbelow(MAX_SEED))
            self.engine.prepare(request)
        except InvalidRequest as exc:
            return JSONResponse({"error": {"message": str(exc)}}, status_code=400)
        if body.get("stream"):
            return StreamingResponse(self._events(request, chat), media_type="text/event-stream")
        completion = self._processed(await self.engine.generate(request), request)
        return JSONResponse(self._response(completion, chat))

    def _processed(self, completion: Completion, request: GenerationRequest) -> Completion:
        """Alternatives as vLLM's processed_logprobs gives them: after temperature."""
        if self.logprobs_mode == "raw" or request.greedy or not completion.top_logprobs:
            return completion
        tops = tuple(
            _after_temperature(top, request.temperature) for top in completion.top_logprobs
        )
        return replace(completion, top_logprobs=tops)

    def _token(self, token_id: int) -> str:
        if self.ids == "text":
            return self.engine.tokenizer.decode([token_id])
        return f"token_id:{token_id}"

    def _logprobs(self, completion_part, chat: bool) -> dict:
        ids, logprobs, tops = completion_part
        if chat:
            return {
                "content": [
                    {
                        "token": self._token(t),
                        "logprob": lp,
                        "top_logprobs": [
                            {"token": self._token(a.token_id), "logprob": a.logprob} for a in top
                        ],
                    }
                    for t, lp, top in zip(ids, logprobs, tops, strict=True)
                ]
            }
        return {
            "tokens": [self._token(t) for t in ids],
            "token_logprobs": list(logprobs),
            "top_logprobs": [{self._token(a.token_id): a.logprob for a in top} for top in tops],
        }

    def _choice(self, text: str, part, finish: str | None, chat: bool, *, streamed: bool) -> dict:
        choice = {"index": 0, "finish_reason": finish, "logprobs": self._logprobs(part, chat)}
        if chat and streamed:
            choice["delta"] = {"content": text}
        elif chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        if self.ids == "token_ids":
            choice["token_ids"] = list(part[0])
        return choice

    def _response(self, completion: Completion, chat: bool) -> dict:
        tops = completion.top_logprobs or [()] * len(completion.token_ids)
        part = (completion.token_ids, completion.logprobs, tops)
        body = {
            "object": "chat.completion" if chat else "text_completion",
            "choices": [
                self._choice(completion.text, part, completion.finish_reason, chat, streamed=False)
            ],
            "usage": _usage(completion),
        }
        if self.ids == "token_ids":
            body["prompt_token_ids"] = list(completion.prompt_token_ids)
        return body

    async def _events(self, request: GenerationRequest, chat: bool) -> AsyncIterator[str]:
        prompt_ids = self.engine.prepare(request)
        async for delta in self.engine.stream(request):
            part = ([delta.token_id], [delta.logprob], [delta.top_logprobs])
            finish = delta.completion.finish_reason if delta.completion else None
            chunk = {"choices": [self._choice(delta.text, part, finish, chat, streamed=True)]}
            if prompt_ids and self.ids == "token_ids":  # vLLM sends them in the first chunk
                chunk["prompt_token_ids"], prompt_ids = prompt_ids, None
            yield f"data: {json.dumps(chunk)}\n\n"
            if delta.completion is not None:
                yield f"data: {json.dumps({'choices': [], 'usage': _usage(delta.completion)})}\n\n"
        yield "data: [DONE]\n\n"


def _after_temperature(top, temperature: float) -> tuple[TokenLogprob, ...]:
    """Log-softmax of logprob / T over the alternatives given: every gap times 1/T."""
    scaled = [t.logprob / temperature for t in top]
    norm = max(scaled) + math.log(sum(math.exp(v - max(scaled)) for v in scaled))
    return tuple(TokenLogprob(t.token_id, v - norm) for t, v in zip(top, scaled, strict=True))


def _usage(completion: Completion) -> dict:
    usage = completion.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _generation_request(body: dict, chat: bool) -> GenerationRequest:
    common = {
        "max_tokens": body.get("max_tokens", 16),
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "seed": body.get("seed"),
        "stop": tuple(body.get("stop") or ()),
        "ignore_eos": bool(body.get("ignore_eos", False)),
    }
    if chat:
        top = body.get("top_logprobs") or 0
        return GenerationRequest(messages=body["messages"], top_logprobs=top, **common)
    return GenerationRequest(
        prompt=body["prompt"], top_logprobs=body.get("logprobs") or 0, **common
    )


@contextlib.asynccontextmanager
async def serving(server: FakeOpenAIServer) -> AsyncIterator[str]:
    """Serve on 127.0.0.1 at a free port; yields the base URL; always stops the server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(server.app, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    try:
        while not uv.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        uv.should_exit = True
        await task
        sock.close()
