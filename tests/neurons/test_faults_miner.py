"""Fault suite: what a miner does with requests it must not serve, or that nobody waits for.

A client that abandons its request, streaming or not, frees its admission slot and its
engine sequence at once (a non-streaming one used to hold both until the model finished); a
request naming a model the miner does not serve is 404 in OpenAI's error shape (any name used
to be answered by whatever model the miner had); a seed the subnet's sampler does not take is
422 (it used to be a 500 with a traceback), and a temperature below its floor is greedy (1e-38
used to sample nonsense).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from neuron_helpers import REQUEST_NAME, CountingBackend

from inference.types import GenerationRequest
from neurons import translate
from neurons.miner import ServedModel
from protocol.client import EpistulaAuth

pytestmark = pytest.mark.fault

# A forward pass made this slow keeps a long generation running for many seconds.
SLOW_FORWARD_S = 0.05
LONG_TOKENS = 120
ABANDON_AFTER_S = 0.5
FREED_WITHIN_S = 2.0  # far less than LONG_TOKENS * SLOW_FORWARD_S = 6 s
# The tiny model continues this prompt to max_tokens (it never ends it early).
PROMPT = "x" * 50


class SlowForward:
    """Wraps the served engine's model: every forward pass is counted, and sleeps `delay_s`."""

    def __init__(self) -> None:
        self.calls = 0
        self.delay_s = SLOW_FORWARD_S

    def __call__(self, served: ServedModel) -> ServedModel:
        model = served.backend.loaded.model
        original = model.forward

        def forward(*args, **kwargs):
            self.calls += 1
            time.sleep(self.delay_s)
            return original(*args, **kwargs)

        model.forward = forward
        return served


async def abandon(miner, key, body: dict, after_s: float = ABANDON_AFTER_S) -> None:
    """Send a signed request and walk away from it (the connection closes) after `after_s`."""
    url = f"http://127.0.0.1:{miner.port}{translate.TEXT_PATH}"
    async with httpx.AsyncClient(auth=EpistulaAuth(key, miner.hotkey)) as http:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(http.post(url, json=body, timeout=30), after_s)


async def wait_until(condition, within_s: float) -> float:
    """Seconds until `condition()` held; fails after `within_s`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within_s, "not freed in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.parametrize("stream", [False, True], ids=["whole answer", "streamed"])
async def test_an_abandoned_request_frees_its_slot_and_engine_sequence_at_once(subnet, stream):
    pace = SlowForward()
    miner = await subnet.start_miner(subnet.miners[0], wrap=pace)
    engine, admission = miner.model.backend, miner.app.state.protocol.admission
    pace.delay_s = 0.0
    unhurried = GenerationRequest(prompt=PROMPT, max_tokens=LONG_TOKENS, temperature=0.0)
    assert (await engine.generate(unhurried)).finish_reason == "length"
    pace.delay_s = SLOW_FORWARD_S
    body = {"model": REQUEST_NAME, "prompt": PROMPT, "max_tokens": LONG_TOKENS, "temperature": 0}
    await abandon(miner, subnet.validators[0].hotkey, {**body, "stream": stream})
    await wait_until(lambda: engine.pending == 0 and admission.running == 0, FREED_WITHIN_S)
    steps_when_freed = pace.calls
    await asyncio.sleep(4 * SLOW_FORWARD_S)
    assert pace.calls == steps_when_freed  # nothing runs for the request any more


async def test_an_abandoned_request_waiting_for_a_slot_leaves_the_queue(subnet):
    miner = await subnet.start_miner(
        subnet.miners[0], None, "--miner.max_concurrent", "1", wrap=SlowForward()
    )
    key = subnet.validators[0].hotkey
    body = {"model": REQUEST_NAME, "prompt": PROMPT, "max_tokens": LONG_TOKENS, "temperature": 0}
    admission = miner.app.state.protocol.admission
    running = asyncio.create_task(abandon(miner, key, body, after_s=4 * ABANDON_AFTER_S))
    await wait_until(lambda: admission.running == 1, FREED_WITHIN_S)
    await abandon(miner, key, body)  # waits behind the first, then walks away
    await wait_until(lambda: admission.queued == 0, FREED_WITHIN_S)
    assert admission.running == 1 and not running.done()  # the first is still being served
    await running


async def test_a_request_for_another_model_is_404_in_openais_error_shape(subnet):
    backends: list[CountingBackend] = []

    def counting(served: ServedModel) -> ServedModel:
        backends.append(CountingBackend(served.backend))
        return ServedModel(backends[0], served.name, served.decode, served.busy)

    miner = await subnet.start_miner(subnet.miners[0], wrap=counting)
    url = f"http://127.0.0.1:{miner.port}{translate.CHAT_PATH}"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    async with httpx.AsyncClient(auth=EpistulaAuth(subnet.validators[0].hotkey, miner.hotkey)) as h:
        response = await h.post(url, json=body, timeout=20)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found"
    assert error["type"] == "invalid_request_error" and error["param"] == "model"
    assert "gpt-4o" in error["message"] and REQUEST_NAME in error["message"]
    assert backends[0].calls == 0


async def test_the_request_name_defaults_to_the_model_option(subnet):
    miner = await subnet.start_miner(subnet.miners[0])
    config = subnet.config("miner", "--model.request_name", "")
    assert config.model.wire_name == str(subnet.models.honest)
    assert miner.model.name == REQUEST_NAME


@pytest.mark.parametrize(
    ("seed", "status"), [(2**63, 422), (2**64 + 5, 422), (-1, 422), (2**63 - 1, 200)]
)
async def test_a_seed_outside_the_sampler_s_range_is_422_and_never_reaches_the_model(
    subnet, seed, status
):
    backends: list[CountingBackend] = []

    def counting(served: ServedModel) -> ServedModel:
        backends.append(CountingBackend(served.backend))
        return ServedModel(backends[0], served.name, served.decode, served.busy)

    miner = await subnet.start_miner(subnet.miners[0], wrap=counting)
    url = f"http://127.0.0.1:{miner.port}{translate.TEXT_PATH}"
    body = {"model": REQUEST_NAME, "prompt": "hi", "max_tokens": 2, "temperature": 0.8}
    async with httpx.AsyncClient(auth=EpistulaAuth(subnet.validators[0].hotkey, miner.hotkey)) as h:
        response = await h.post(url, json={**body, "seed": seed}, timeout=20)
    assert response.status_code == status, response.text
    if status == 422:
        assert "seed" in response.text and str(2**63 - 1) in response.text
        assert "Traceback" not in response.text
    assert backends[0].calls == (1 if status == 200 else 0)


async def test_a_temperature_below_the_floor_is_answered_greedily(subnet):
    miner = await subnet.start_miner(subnet.miners[0])
    url = f"http://127.0.0.1:{miner.port}{translate.TEXT_PATH}"
    body = {"model": REQUEST_NAME, "prompt": "the river", "max_tokens": 8, "seed": 3}
    async with httpx.AsyncClient(auth=EpistulaAuth(subnet.validators[0].hotkey, miner.hotkey)) as h:
        tiny = await h.post(url, json={**body, "temperature": 1e-38}, timeout=20)
        greedy = await h.post(url, json={**body, "temperature": 0}, timeout=20)
    assert tiny.status_code == greedy.status_code == 200
    assert tiny.json()["choices"][0]["token_ids"] == greedy.json()["choices"][0]["token_ids"]
