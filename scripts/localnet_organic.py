"""Organic traffic in `subnet localnet`: a user of the subnet, through the gateway that the
first validator serves, with the official `openai` client.

    traffic = OrganicTraffic(base_url, api_key, model)
    task = asyncio.create_task(traffic.run(stop))       # one streamed chat at a time
    figures = await gateway_figures(base_url)           # what the gateway's /metrics say

The user's side (requests answered, tokens received, time to first token) is measured here;
which miner answered each request and how many answers the validator verified come from the
gateway's own /metrics page (neurons/gateway/metrics.py).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field

import httpx

from neurons import task_text
from neurons.gateway.metrics import OrganicFigures, read_organic

# Short answers, one request at a time with a pause: the demo's six processes share two cores.
MAX_TOKENS = 16
PAUSE_S = 0.3
# When no miner can answer yet (503), wait this long before asking again.
NOT_READY_WAIT_S = 1.0
REQUEST_TIMEOUT_S = 30.0
METRICS_TIMEOUT_S = 5.0


@dataclass
class UserSide:
    """What the demo's user received."""

    answered: int = 0
    failed: int = 0
    completion_tokens: int = 0
    ttft_s: list[float] = field(default_factory=list)

    @property
    def ttft_p50_s(self) -> float | None:
        return statistics.median(self.ttft_s) if self.ttft_s else None


class OrganicTraffic:
    def __init__(self, base_url: str, api_key: str, model: str, seed: int = 0) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.model = model
        self.rng = random.Random(seed)
        self.user = UserSide()

    async def run(self, stop: asyncio.Event) -> None:
        import openai

        client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key,
            max_retries=0,
            timeout=REQUEST_TIMEOUT_S,
        )
        try:
            while not stop.is_set():
                try:
                    await self.ask(client)
                    await asyncio.sleep(PAUSE_S)
                except openai.APIStatusError as error:
                    self.user.failed += error.status_code != 503
                    await asyncio.sleep(NOT_READY_WAIT_S)
                except openai.APIError:
                    self.user.failed += 1
                    await asyncio.sleep(NOT_READY_WAIT_S)
        finally:
            await client.close()

    async def ask(self, client) -> None:
        started = time.perf_counter()
        stream = await client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": task_text.chat_prompt(self.rng)}],
            max_tokens=MAX_TOKENS,
            stream=True,
            stream_options={"include_usage": True},
        )
        first: float | None = None
        tokens = 0
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content is not None:
                first = time.perf_counter() - started
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
        self.user.answered += 1
        self.user.completion_tokens += tokens
        if first is not None:
            self.user.ttft_s.append(first)


async def gateway_figures(base_url: str) -> OrganicFigures | None:
    """The gateway's figures from its /metrics page; None when it cannot be read."""
    url = base_url.removesuffix("/v1") + "/metrics"
    try:
        async with httpx.AsyncClient(timeout=METRICS_TIMEOUT_S) as http:
            response = await http.get(url)
            response.raise_for_status()
    except httpx.HTTPError:
        return None
    return read_organic(response.text)
