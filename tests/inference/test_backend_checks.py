"""The miner's start-up checks of an external backend, against the fake vLLM-style server."""

from __future__ import annotations

import socket

import pytest
from fake_openai_server import SERVED_NAME, FakeOpenAIServer, serving
from inference_cases import request_for

from inference.backend_checks import (
    BackendCheckFailed,
    check_backend,
    check_follows_sampler,
    check_raw_logprobs,
    check_reachable,
    check_serves_model,
    check_token_ids,
)
from inference.openai_backend import OpenAIBackend


async def _check(engine, check, *, name: str = SERVED_NAME, key: str | None = None, **server):
    async with (
        serving(FakeOpenAIServer(engine, **server)) as url,
        OpenAIBackend(url, model=name, api_key=key) as backend,
    ):
        await check(backend)


async def test_a_backend_that_serves_the_model_with_ids_and_raw_logprobs_passes_every_check(
    engine,
):
    await _check(engine, check_backend)


async def test_a_backend_that_is_down_fails_naming_the_url_flag():
    with socket.socket() as probe:  # a port that was free a moment ago and is closed now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with OpenAIBackend(f"http://127.0.0.1:{port}/v1", model="tiny") as backend:
        with pytest.raises(BackendCheckFailed, match=r"not answering: .*--model\.backend_url"):
            await check_reachable(backend)


async def test_a_backend_that_wants_another_api_key_fails_naming_the_key_flag(engine):
    with pytest.raises(BackendCheckFailed, match=r"401.*--model\.backend_api_key"):
        await _check(engine, check_reachable, api_key="secret", key="wrong")


async def test_the_right_api_key_is_sent_as_a_bearer_token(engine):
    await _check(engine, check_backend, api_key="secret", key="secret")


async def test_a_model_served_under_another_name_fails_naming_the_served_name_flag(engine):
    with pytest.raises(
        BackendCheckFailed, match=r"serves 'tiny', not 'org/model'.*--model\.served_name"
    ):
        await _check(engine, check_serves_model, name="org/model")


async def test_a_backend_without_token_ids_fails_the_token_id_check(engine):
    with pytest.raises(BackendCheckFailed, match="return_token_ids"):
        await _check(engine, check_token_ids, ids="text")


async def test_logprobs_after_temperature_fail_naming_vllms_logprobs_mode(engine):
    with pytest.raises(BackendCheckFailed, match="--logprobs-mode raw_logprobs"):
        await _check(engine, check_raw_logprobs, logprobs_mode="processed")


async def test_a_text_request_without_alternatives_asks_for_one_and_returns_none(engine):
    request = request_for(0, max_tokens=8, top_logprobs=0)
    server = FakeOpenAIServer(engine)
    async with serving(server) as url, OpenAIBackend(url, model=SERVED_NAME) as backend:
        completion = await backend.generate(request)
    assert server.payloads[0]["logprobs"] == 1
    assert completion == await engine.generate(request)


async def test_a_backend_that_samples_with_its_own_generator_fails_naming_the_processor(engine):
    with pytest.raises(BackendCheckFailed, match=r"inference\.vllm_sampler:SubnetSampler"):
        await _check(engine, check_follows_sampler, own_sampler=True)


async def test_a_backend_that_follows_the_sampler_passes_its_check(engine):
    await _check(engine, check_follows_sampler)
