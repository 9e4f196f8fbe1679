"""The miner: who it serves, what it answers, how it starts and stops."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import torch
from bittensor.keyfiles import Keypair
from neuron_helpers import REQUEST_NAME, CountingBackend, slow

from chain import dev_wallet
from neurons import translate
from neurons.base import StartupError
from neurons.miner import OUT_OF_MEMORY_RETRY_AFTER_S, Miner, ServedModel, load_served_model
from protocol import schemas as wire
from protocol.client import EpistulaAuth, EpistulaClient, Failure, FailureReason, Reply, Target

CHAT = {
    "model": REQUEST_NAME,
    "messages": [{"role": "user", "content": "the river"}],
    "max_tokens": 8,
}
TEXT = {"model": REQUEST_NAME, "prompt": "the river", "max_tokens": 8, "temperature": 0}


def counting(holder: list):
    def wrap(served: ServedModel) -> ServedModel:
        backend = CountingBackend(served.backend)
        holder.append(backend)
        return ServedModel(backend, served.name, served.decode, served.busy)

    return wrap


async def call(keypair, miner: Miner, body=CHAT, path=translate.CHAT_PATH, timeout=20.0):
    target = Target.at(miner.hotkey, "127.0.0.1", miner.port)
    model = wire.ChatCompletion if path == translate.CHAT_PATH else wire.Completion
    async with EpistulaClient(keypair) as client:
        return await client.call(target, path, body, response_model=model, timeout_s=timeout)


async def test_validator_with_permit_gets_an_answer_with_its_proof(subnet):
    miner = await subnet.start_miner(subnet.miners[0])
    reply = await call(subnet.validators[0].hotkey, miner)
    assert isinstance(reply, Reply)
    choice = reply.parsed.choices[0]
    assert choice.token_ids and len(choice.logprobs.content) == len(choice.token_ids)
    assert reply.parsed.prompt_token_ids


async def test_text_completion_carries_token_ids_and_logprobs_unasked(subnet):
    miner = await subnet.start_miner(subnet.miners[0])
    reply = await call(subnet.validators[0].hotkey, miner, TEXT, translate.TEXT_PATH)
    assert isinstance(reply, Reply)
    choice = reply.parsed.choices[0]
    assert choice.token_ids
    assert choice.logprobs.token_logprobs == [e.logprob for e in choice.logprobs.content]


async def test_caller_without_permit_is_refused_before_the_model(subnet):
    backends: list[CountingBackend] = []
    miner = await subnet.start_miner(subnet.miners[0], wrap=counting(backends))
    reply = await call(subnet.miners[1].hotkey, miner)  # registered, but a miner: no permit
    assert isinstance(reply, Failure) and reply.status == 403
    assert reply.error.code == "caller_without_validator_permit"
    assert backends[0].calls == 0


async def test_unregistered_caller_is_refused_before_the_model(subnet):
    backends: list[CountingBackend] = []
    miner = await subnet.start_miner(subnet.miners[0], wrap=counting(backends))
    reply = await call(Keypair.create_from_uri("//Stranger"), miner)
    assert isinstance(reply, Failure) and reply.error.code == "caller_not_registered"
    assert backends[0].calls == 0


async def test_caller_below_the_minimum_stake_is_refused(subnet):
    backends: list[CountingBackend] = []
    miner = await subnet.start_miner(
        subnet.miners[0], None, "--miner.min_stake", "700", wrap=counting(backends)
    )
    refused = await call(subnet.validators[1].hotkey, miner)  # 500 TAO staked
    served = await call(subnet.validators[0].hotkey, miner)  # 1000 TAO staked
    assert isinstance(refused, Failure) and refused.error.code == "caller_stake_too_low"
    assert isinstance(served, Reply)
    assert backends[0].calls == 1


async def test_permit_requirement_can_be_switched_off(subnet):
    miner = await subnet.start_miner(subnet.miners[0], None, "--no-miner.require_permit")
    assert isinstance(await call(subnet.miners[1].hotkey, miner), Reply)


async def test_saturated_miner_answers_busy_instead_of_queueing(subnet):
    miner = await subnet.start_miner(
        subnet.miners[0],
        None,
        "--miner.max_concurrent",
        "1",
        "--miner.queue_size",
        "0",
        wrap=slow(1.0),
    )
    key = subnet.validators[0].hotkey
    first, second = await asyncio.gather(call(key, miner), call(key, miner))
    statuses = sorted(r.status for r in (first, second))
    assert statuses == [200, 429]


async def test_miner_announces_its_axon_on_chain(subnet):
    miner = await subnet.start_miner(subnet.miners[0])
    metagraph = await subnet.owner.metagraph(subnet.netuid)
    axon = metagraph.axons[subnet.uid_of(subnet.miners[0])]
    assert (axon.ip, axon.port) == ("127.0.0.1", miner.port)


async def test_streamed_answer_ends_with_usage_and_per_token_ids(subnet):
    miner = await subnet.start_miner(subnet.miners[0])
    target = Target.at(miner.hotkey, "127.0.0.1", miner.port)
    async with EpistulaClient(subnet.validators[0].hotkey) as client:
        reply = await client.stream(
            target,
            translate.CHAT_PATH,
            {**CHAT, "stream": True},
            chunk_model=wire.ChatCompletionChunk,
            timeout_s=20,
        )
    token_chunks = [c for c in reply.chunks if c.choices and c.choices[0].token_ids]
    assert token_chunks
    assert reply.chunks[-1].usage.completion_tokens == len(token_chunks)


async def test_invalid_request_is_refused_with_what_to_fix(subnet):
    miner = await subnet.start_miner(subnet.miners[0])
    body = {**TEXT, "max_tokens": 10**6}
    reply = await call(subnet.validators[0].hotkey, miner, body, translate.TEXT_PATH)
    assert isinstance(reply, Failure) and reply.status == 422
    assert "max_tokens" in reply.error.message


async def test_stop_lets_an_in_flight_request_finish_then_refuses_connections(subnet):
    miner = await subnet.start_miner(subnet.miners[0], wrap=slow(0.5))
    key = subnet.validators[0].hotkey
    in_flight = asyncio.create_task(call(key, miner))
    await asyncio.sleep(0.2)
    port = miner.port
    await miner.shutdown()
    assert isinstance(await in_flight, Reply)
    target = Target.at(miner.hotkey, "127.0.0.1", port)
    async with EpistulaClient(key) as client:
        late = await client.call(
            target, translate.CHAT_PATH, CHAT, response_model=wire.ChatCompletion
        )
    assert isinstance(late, Failure) and late.reason == FailureReason.CONNECTION_REFUSED


async def test_unregistered_miner_does_not_start_and_says_how_to_register(subnet):
    stranger = dev_wallet("//Dave", "//Dave//unregistered")
    config = subnet.config("miner")
    miner = Miner(config, subnet.owner, stranger, load_served_model(config))
    subnet.started.append(miner)
    with pytest.raises(StartupError, match="not registered on netuid"):
        await miner.start()


async def test_port_in_use_is_a_clear_start_up_error(subnet):
    first = await subnet.start_miner(subnet.miners[0])
    with pytest.raises(StartupError, match=rf"127\.0\.0\.1:{first.port}.*--axon\.port"):
        await subnet.start_miner(subnet.miners[1], None, "--axon.port", str(first.port))


async def test_metrics_endpoint_counts_served_requests(subnet):
    miner = await subnet.start_miner(subnet.miners[0], None, "--metrics.port", "0")
    try:
        await call(subnet.validators[0].hotkey, miner)
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{miner.metrics_port}/metrics")).text
    finally:
        miner.stop_metrics()
    hotkey = subnet.miners[0].hotkey.ss58_address
    served = f'subnet_miner_requests_total{{hotkey="{hotkey}",netuid="{subnet.netuid}",outcome="served"}} 1.0'
    assert served in text
    assert "subnet_miner_generated_tokens_total" in text


def test_external_backend_is_used_when_a_backend_url_is_given(tiny_models):
    from inference.openai_backend import OpenAIBackend
    from neurons.config import load_config

    flags = ["--model", str(tiny_models.honest), "--model.backend_url", "http://127.0.0.1:9/v1"]
    served = load_served_model(load_config("miner", flags, env={}))
    assert isinstance(served.backend, OpenAIBackend)
    assert served.decode([104, 105]) == "hi"


def runs_out_of_memory_once(holder: list):
    """Wrap the served engine so that its model's next forward raises torch's OOM error."""

    def wrap(served: ServedModel) -> ServedModel:
        model = served.backend.loaded.model
        original = model.forward

        def forward(*args, **kwargs):
            model.forward = original
            holder.append("out of memory")
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        model.forward = forward
        return served

    return wrap


async def test_out_of_memory_is_answered_503_with_what_to_change_and_the_miner_goes_on(subnet):
    raised: list[str] = []
    miner = await subnet.start_miner(subnet.miners[0], wrap=runs_out_of_memory_once(raised))
    key = subnet.validators[0].hotkey
    url = f"http://127.0.0.1:{miner.port}{translate.CHAT_PATH}"
    async with httpx.AsyncClient(auth=EpistulaAuth(key, miner.hotkey)) as http:
        response = await http.post(url, json=CHAT, timeout=20)
    assert raised == ["out of memory"]
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(OUT_OF_MEMORY_RETRY_AFTER_S)
    error = response.json()["error"]
    assert error["code"] == "out_of_memory"
    for flag in ("--model.max_batch", "--miner.max_concurrent", "--model.dtype"):
        assert flag in error["message"]
    assert "--model.backend_url" in error["message"]
    assert isinstance(await call(key, miner), Reply)
