"""Routing against live miners: a hung miner's request is retried elsewhere, a cheater caught
by organic verification gets no more traffic, seeds are set and kept, usage adds up."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from gateway_helpers import give_scores, serve_gateway
from neuron_helpers import ServedModel, silent_server
from prometheus_client import generate_latest

from neurons import checking
from neurons.gateway.metrics import FAIL, read_organic
from neurons.gateway.store import GatewayStore

MESSAGES = [{"role": "user", "content": "Tell me about rivers."}]
# Scores that make the first pick all but certain (the other is drawn once in a million).
FIRST, UNLIKELY = 1.0, 1e-6


@dataclass
class SeedRecorder:
    """A test-only backend wrapper noting each request's seed."""

    inner: object
    seeds: list = field(default_factory=list)

    async def generate(self, request):
        self.seeds.append(request.seed)
        return await self.inner.generate(request)

    def stream(self, request):
        self.seeds.append(request.seed)
        return self.inner.stream(request)

    async def close(self) -> None:
        await self.inner.close()


def recording(served: ServedModel) -> ServedModel:
    return ServedModel(SeedRecorder(served.backend), served.name, served.decode, served.busy)


def figures(served):
    """The gateway's figures, as its /metrics page shows them."""
    return read_organic(generate_latest(served.validator.metrics.registry).decode())


async def chat(client, model, **fields):
    return await client.chat.completions.create(
        model=model, messages=MESSAGES, **{"max_tokens": 6, **fields}
    )


async def test_hung_miner_is_retried_elsewhere_and_the_user_sees_one_answer(subnet, tmp_path):
    honest, hung = subnet.miners[0], subnet.miners[1]
    await subnet.start_miner(honest)
    served = await serve_gateway(
        subnet, tmp_path, "--gateway.timeout", "1", "--gateway.first_token_timeout", "1"
    )
    try:
        with silent_server() as port:
            await served.validator.chain.serve_axon(hung, subnet.netuid, "127.0.0.1", port)
            await served.validator.sync()
            give_scores(
                served.validator, {subnet.uid_of(hung): FIRST, subnet.uid_of(honest): UNLIKELY}
            )
            async with served.client() as client:
                whole = await chat(client, served.model)
                stream = await chat(client, served.model, stream=True)
                streamed = [c async for c in stream]
        assert whole.choices[0].message.content is not None
        assert streamed and streamed[-1].choices[0].finish_reason in ("stop", "length")
        shown = figures(served)
        assert shown.per_uid == {subnet.uid_of(honest): 2}
        hung_hotkey = served.validator.metagraph.hotkeys[subnet.uid_of(hung)]
        assert served.gateway.router.breakers[hung_hotkey].failures == 2
    finally:
        await served.close()


async def test_caught_cheater_gets_no_more_traffic_and_its_failure_counts(subnet, tmp_path):
    honest, cheat = subnet.miners[0], subnet.miners[1]
    await subnet.start_miner(honest)
    await subnet.start_miner(cheat, subnet.models.other)
    served = await serve_gateway(subnet, tmp_path)
    cheat_uid, honest_uid = subnet.uid_of(cheat), subnet.uid_of(honest)
    try:
        give_scores(served.validator, {cheat_uid: FIRST, honest_uid: UNLIKELY})
        async with served.client() as client:
            await chat(client, served.model, max_tokens=16, temperature=0)
            await served.gateway.settle()
            assert served.validator.scores.scores[cheat_uid] == 0.0
            cheat_hotkey = served.validator.metagraph.hotkeys[cheat_uid]
            assert cheat_hotkey in served.validator.failed_verification
            for _ in range(4):
                await chat(client, served.model)
        await served.gateway.settle()
        shown = figures(served)
        assert shown.per_uid == {cheat_uid: 1, honest_uid: 4}
        assert shown.verified[FAIL] == 1
    finally:
        await served.close()


async def test_a_request_without_a_seed_gets_one_and_a_given_seed_is_kept(subnet, tmp_path):
    miner = await subnet.start_miner(subnet.miners[0], None, wrap=recording)
    served = await serve_gateway(subnet, tmp_path)
    try:
        give_scores(served.validator, {subnet.uid_of(subnet.miners[0]): 0.5})
        async with served.client() as client:
            await chat(client, served.model, temperature=0.7)
            await chat(client, served.model, temperature=0.7, seed=1234)
        await served.gateway.settle()
        drawn, kept = miner.model.backend.seeds
        assert drawn is not None and kept == 1234
        assert figures(served).verified == {"pass": 2}
    finally:
        await served.close()


async def test_usage_per_key_adds_up_to_the_tokens_the_client_received(subnet, tmp_path):
    await subnet.start_miner(subnet.miners[0])
    served = await serve_gateway(subnet, tmp_path)
    try:
        give_scores(served.validator, {subnet.uid_of(subnet.miners[0]): 0.5})
        prompt = completion = 0
        async with served.client() as client:
            for max_tokens in (3, 7):
                answer = await chat(client, served.model, max_tokens=max_tokens)
                prompt += answer.usage.prompt_tokens
                completion += answer.usage.completion_tokens
            stream = await chat(
                client, served.model, stream=True, stream_options={"include_usage": True}
            )
            (usage,) = [c.usage async for c in stream if c.usage is not None]
            prompt += usage.prompt_tokens
            completion += usage.completion_tokens
        store = GatewayStore.open(served.folder)
        (recorded,) = store.usage()
        miners = store.miners()
        store.close()
        assert (recorded.requests, recorded.errors) == (3, 0)
        assert (recorded.prompt_tokens, recorded.completion_tokens) == (prompt, completion)
        assert [m.completion_tokens for m in miners] == [completion]
        assert miners[0].tokens_per_second > 0
    finally:
        await served.close()


@pytest.mark.parametrize("kind", ["chat", "text"])
async def test_served_prompts_become_synthetic_tasks(subnet, tmp_path, kind):
    await subnet.start_miner(subnet.miners[0])
    served = await serve_gateway(subnet, tmp_path, "--gateway.organic_share", "1")
    try:
        give_scores(served.validator, {subnet.uid_of(subnet.miners[0]): 0.5})
        async with served.client() as client:
            if kind == "chat":
                await chat(client, served.model, user="someone@example.com")
            else:
                await client.completions.create(
                    model=served.model, prompt="The river", max_tokens=4, user="someone"
                )
        tasks = checking.fitting_tasks(
            1, 3, 8, served.model, served.validator.checker.fits, served.validator.task_source
        )
        bodies = [body.model_dump() for body, _ in tasks]
        expected = {"messages": MESSAGES} if kind == "chat" else {"prompt": "The river"}
        for body in bodies:
            shown = {name: body[name] for name in expected}
            if "messages" in shown:
                shown["messages"] = [
                    {"role": m["role"], "content": m["content"]} for m in shown["messages"]
                ]
            assert shown == expected
            assert body["user"] is None and body["seed"] is not None
        assert len({body["seed"] for body in bodies}) == 3
    finally:
        await served.close()
