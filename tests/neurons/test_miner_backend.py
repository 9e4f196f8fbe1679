"""A miner serving through an external backend: checked before it is announced, and a backend
that fails later costs one log line and a 503, not a traceback."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from loguru import logger
from neuron_helpers import REQUEST_NAME

import chain
from inference.engine import Engine
from neurons import translate
from neurons.base import StartupError
from neurons.miner import BACKEND_UNAVAILABLE_CODE, Miner, check_served_model, load_served_model
from protocol import schemas as wire
from protocol.client import EpistulaClient, Failure, Reply, Target

# The inference tests' fake vLLM-style server, backed by the tiny engine.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "inference"))

from fake_openai_server import SERVED_NAME, FakeOpenAIServer, serving

CHAT = {
    "model": REQUEST_NAME,
    "messages": [{"role": "user", "content": "the river"}],
    "max_tokens": 8,
}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def ask(keypair, miner: Miner):
    target = Target.at(miner.hotkey, "127.0.0.1", miner.port)
    async with EpistulaClient(keypair) as client:
        return await client.call(
            target, translate.CHAT_PATH, CHAT, response_model=wire.ChatCompletion, timeout_s=20
        )


async def test_a_backend_that_is_down_stops_the_start_before_the_axon_is_announced(subnet):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    config = subnet.config("miner", "--model.backend_url", url)
    with pytest.raises(StartupError, match=rf"--model\.backend_url {url}: .*not answering"):
        await check_served_model(config, load_served_model(config))
    metagraph = await subnet.owner.metagraph(subnet.netuid)
    assert not metagraph.axons[subnet.uid_of(subnet.miners[0])].is_serving


async def test_a_backend_serving_another_name_stops_the_start_naming_the_flag(subnet):
    engine = Engine.from_pretrained(subnet.models.honest)
    try:
        async with serving(FakeOpenAIServer(engine, served_name="served/as")) as url:
            config = subnet.config("miner", "--model.backend_url", url)
            with pytest.raises(StartupError, match=r"serves 'served/as'.*--model\.served_name"):
                await check_served_model(config, load_served_model(config))
    finally:
        await engine.close()


async def test_a_miner_serves_through_a_checked_backend_and_fails_in_one_line_when_it_breaks(
    subnet,
):
    engine = Engine.from_pretrained(subnet.models.honest)
    server = FakeOpenAIServer(engine, api_key="secret")
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING")
    try:
        async with serving(server) as url:
            flags = ["--model.backend_url", url, "--model.served_name", SERVED_NAME]
            config = subnet.config("miner", *flags, "--model.backend_api_key", "secret")
            served = load_served_model(config)
            await check_served_model(config, served)
            miner = Miner(config, chain.connect(subnet.network), subnet.miners[0], served)
            subnet.started.append(miner)
            await miner.start()
            assert isinstance(await ask(subnet.validators[0].hotkey, miner), Reply)
            server.fail_status = 500
            failed = await ask(subnet.validators[0].hotkey, miner)
    finally:
        logger.remove(sink)
        await engine.close()
    assert isinstance(failed, Failure) and failed.status == 503
    assert failed.refusal == BACKEND_UNAVAILABLE_CODE
    backend_lines = [line for line in lines if "backend failed" in line]
    assert len(backend_lines) == 1 and "answered 500" in backend_lines[0]
    assert not any("Traceback" in line for line in lines)
