"""What the gateway refuses, in OpenAI's error shape, before anything reaches a miner."""

from __future__ import annotations

import httpx
import pytest
from gateway_helpers import give_scores, new_key, openai, serve_gateway
from neuron_helpers import CountingBackend, ServedModel

from neurons.gateway.store import GatewayStore
from protocol.server import DEFAULT_MAX_BODY_BYTES

MESSAGES = [{"role": "user", "content": "Hello"}]


def counting(served: ServedModel) -> ServedModel:
    return ServedModel(CountingBackend(served.backend), served.name, served.decode, served.busy)


@pytest.fixture
async def served(subnet, tmp_path):
    miner = await subnet.start_miner(subnet.miners[0], None, wrap=counting)
    served = await serve_gateway(subnet, tmp_path)
    served.miner = miner
    give_scores(served.validator, {subnet.uid_of(subnet.miners[0]): 0.5})
    try:
        yield served
    finally:
        await served.close()


def calls(served) -> int:
    return served.miner.model.backend.calls


async def ask(served, key: str | None = None, **fields):
    async with served.client(key) as client:
        body = {"model": served.model, "messages": MESSAGES, "max_tokens": 4, **fields}
        return await client.chat.completions.create(**body)


async def test_unknown_key_is_401(served):
    with pytest.raises(openai.AuthenticationError) as caught:
        await ask(served, key="sk-subnet-not-a-key")
    assert caught.value.code == "invalid_api_key"
    assert calls(served) == 0


async def test_missing_key_is_401_saying_how_to_send_one(served):
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{served.base_url}/chat/completions",
            json={"model": served.model, "messages": MESSAGES},
        )
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Authorization: Bearer" in error["message"]


async def test_revoked_key_is_401_at_once(served):
    await ask(served)
    store = GatewayStore.open(served.folder)
    store.revoke("tester")
    store.close()
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        await ask(served)
    assert calls(served) == 1


async def test_request_limit_answers_429_with_retry_after(served):
    key = new_key(served.folder, "limited", requests_per_minute=1)
    await ask(served, key=key)
    with pytest.raises(openai.RateLimitError) as caught:
        await ask(served, key=key)
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert calls(served) == 1
    usage = {u.key.name: u for u in GatewayStore.open(served.folder).usage()}
    assert (usage["limited"].requests, usage["limited"].errors) == (2, 1)


async def test_unknown_model_is_404_naming_the_served_one(served):
    with pytest.raises(openai.NotFoundError, match=served.model):
        await ask(served, model="gpt-4o")
    assert calls(served) == 0


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"n": 2}, "n"),
        ({"temperature": 5}, "temperature"),
        ({"seed": -1}, "seed"),
        ({"max_tokens": 100_000}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x" * 5000}]}, "shorten the prompt"),
    ],
)
async def test_malformed_or_too_long_request_is_400_saying_what_to_fix(served, fields, said):
    with pytest.raises(openai.BadRequestError, match=said):
        await ask(served, **fields)
    assert calls(served) == 0


async def test_unknown_path_gets_an_openai_error_object(served):
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{served.base_url}/embeddings")
    assert response.status_code == 404
    assert "POST /v1/chat/completions" in response.json()["error"]["message"]


async def test_no_scored_miner_is_503_with_retry_after(served):
    served.validator.scores.scores[:] = 0.0
    with pytest.raises(openai.InternalServerError) as caught:
        await ask(served)
    assert caught.value.status_code == 503
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert calls(served) == 0


async def test_a_body_over_the_size_limit_is_413_and_never_read_whole(served):
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{served.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {served.key}"},
            content=b"x" * (DEFAULT_MAX_BODY_BYTES + 1),
        )
    assert response.status_code == 413
    assert "at most" in response.json()["error"]["message"]
    assert calls(served) == 0


async def test_metrics_page_counts_refusals_by_code(served):
    with pytest.raises(openai.AuthenticationError):
        await ask(served, key="sk-subnet-wrong")
    async with httpx.AsyncClient() as http:
        page = (await http.get(served.base_url.removesuffix("/v1") + "/metrics")).text
    assert 'gateway_requests_total{outcome="invalid_api_key"} 1.0' in page
