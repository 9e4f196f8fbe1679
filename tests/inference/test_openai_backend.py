"""OpenAIBackend against a fake vLLM-style server on 127.0.0.1 backed by the tiny engine."""

from __future__ import annotations

import socket

import pytest
from fake_openai_server import FakeOpenAIServer, serving
from inference_cases import request_for

from inference.openai_backend import BackendError, OpenAIBackend
from inference.types import InvalidRequest

CHAT = request_for(1, max_tokens=20, top_logprobs=2)
TEXT = request_for(0, max_tokens=20, temperature=0.9, top_p=0.9, seed=4, top_logprobs=2)


async def _through_server(engine, request, **server_options):
    server = FakeOpenAIServer(engine, **server_options)
    async with serving(server) as url, OpenAIBackend(url, model="tiny") as backend:
        return await backend.generate(request), server


@pytest.mark.parametrize("request_", [CHAT, TEXT], ids=["chat", "text"])
async def test_a_completion_through_the_server_equals_the_engines_own(engine, request_):
    completion, _ = await _through_server(engine, request_)
    assert completion == await engine.generate(request_)


@pytest.mark.parametrize("request_", [CHAT, TEXT], ids=["chat", "text"])
async def test_a_completion_through_the_server_passes_verification(engine, verifier, request_):
    completion, _ = await _through_server(engine, request_)
    assert verifier.verify_completion(request_, completion).ok


async def test_the_backend_asks_for_logprobs_and_token_ids(engine):
    _, server = await _through_server(engine, CHAT)
    sent = server.payloads[0]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2
    assert sent["return_token_ids"] is True and sent["return_tokens_as_token_ids"] is True
    assert sent["temperature"] == 0.0 and sent["max_tokens"] == 20


async def test_token_ids_written_in_logprob_entries_are_enough(engine):
    completion, _ = await _through_server(engine, CHAT, ids="token_id_strings")
    expected = await engine.generate(CHAT)
    assert completion.token_ids == expected.token_ids
    assert completion.logprobs == expected.logprobs


async def test_a_server_without_token_ids_is_refused_as_unverifiable(engine):
    with pytest.raises(BackendError, match="return_token_ids"):
        await _through_server(engine, CHAT, ids="text")


async def test_a_request_the_server_refuses_is_an_invalid_request(engine):
    with pytest.raises(InvalidRequest, match="lower max_tokens"):
        await _through_server(engine, request_for(1, max_tokens=5000))


async def test_a_failing_server_is_a_backend_error(engine):
    with pytest.raises(BackendError, match="500"):
        await _through_server(engine, CHAT, fail_status=500)


@pytest.mark.parametrize("request_", [CHAT, TEXT], ids=["chat", "text"])
async def test_a_stream_through_the_server_adds_up_to_the_engines_completion(engine, request_):
    server = FakeOpenAIServer(engine)
    async with serving(server) as url, OpenAIBackend(url, model="tiny") as backend:
        deltas = [d async for d in backend.stream(request_)]
    expected = await engine.generate(request_)
    assert deltas[-1].completion == expected
    assert [d.completion is None for d in deltas] == [True] * (len(deltas) - 1) + [False]
    assert tuple(d.token_id for d in deltas) == expected.token_ids
    assert "".join(d.text for d in deltas) == expected.text


async def test_an_unreachable_server_is_a_backend_error():
    with socket.socket() as probe:  # a port that was free a moment ago and is closed now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with OpenAIBackend(f"http://127.0.0.1:{port}/v1", model="tiny") as backend:
        with pytest.raises(BackendError, match="could not reach"):
            await backend.generate(CHAT)
