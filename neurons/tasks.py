"""Synthetic tasks: the work a validator sends miners, looking like what a paying user sends.

A task is one request body of ordinary OpenAI fields (model, messages or prompt, max_tokens,
temperature, top_p, seed), nothing that marks it as a test. Where its prompt comes from is a
``TaskSource``: ``SyntheticTasks`` writes prompts with the grammar of neurons/task_text.py (no
datasets); another source (organic prompts a gateway saw, say) can stand in or be mixed in,
and the sampling fields and the seed are drawn here whatever the source.

Every task carries a seed of its own, drawn afresh for each query: a miner's answer is
verified token by token against the subnet's sampler under that seed (inference/sampler.py),
so a cached answer or another miner's answer, made under another seed, fails. The round's
draws come from a keyed hash of the validator's secret, the round number and the block, so a
miner that knows this code, the round and the block still cannot compute the tasks; the
generator itself is pure: the same round seed gives the same tasks.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import dataclass, replace
from typing import Any, Protocol

from inference.types import MAX_SEED
from neurons import task_text

SEED_BYTES = 8
SECRET_BYTES = 32
# Requested lengths are drawn between this floor and the validator's --validator.max_tokens.
MIN_TASK_TOKENS = 8

CHAT = "chat"
TEXT = "text"

# None: the field is left out, as many clients do (OpenAI's default temperature is 1).
TEMPERATURES = (0.0, 0.0, 0.3, 0.7, 0.8, 1.0, None)
TOP_PS = (None, None, 0.8, 0.9, 0.95)
# Shares of chat tasks among all, and of system messages among chats: both kinds of request,
# and chats with and without a system prompt, are common in what users send.
CHAT_SHARE = 0.5
SYSTEM_MESSAGE_SHARE = 0.6
# Share of tasks asked as a stream: users stream often (chat front-ends always do), so a miner
# must not be able to tell organic traffic by its streaming.
STREAM_SHARE = 0.4


@dataclass(frozen=True)
class Task:
    """One request body, as a user would send it to /v1/chat/completions or /v1/completions."""

    kind: str  # CHAT or TEXT
    max_tokens: int
    temperature: float | None  # None: left out of the request
    seed: int | None  # the OpenAI `seed` field (make_task always sets one); None: left out
    messages: tuple[dict[str, str], ...] = ()
    prompt: str = ""
    top_p: float | None = None
    stream: bool = False

    def body(self, model: str) -> dict[str, Any]:
        """The JSON body: ordinary OpenAI fields only."""
        body: dict[str, Any] = {"model": model, "max_tokens": self.max_tokens}
        if self.stream:
            body["stream"] = True
        if self.kind == CHAT:
            body["messages"] = [dict(message) for message in self.messages]
        else:
            body["prompt"] = self.prompt
        optional = {"temperature": self.temperature, "top_p": self.top_p, "seed": self.seed}
        body.update({name: value for name, value in optional.items() if value is not None})
        return body


def new_secret() -> str:
    """A fresh task secret (hex); the validator keeps it in its state file."""
    return secrets.token_hex(SECRET_BYTES)


def round_seed(secret: str, round_index: int, block: int, block_hash: str = "") -> int:
    """A seed miners cannot predict: keyed by the validator's secret, varied by round and block."""
    key = bytes.fromhex(secret) if _is_hex(secret) else secret.encode()
    digest = hashlib.blake2b(
        f"{round_index}:{block}:{block_hash}".encode(), key=key[:64], digest_size=SEED_BYTES
    )
    return int.from_bytes(digest.digest(), "big")


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return len(text) > 0


class TaskSource(Protocol):
    """Where task prompts come from. ``draw`` gives one task whose prompt (messages or
    prompt) and kind are the source's; max_tokens, temperature, top_p and seed are set by
    ``make_task`` afterwards, so every source's tasks are sampled and seeded alike."""

    def draw(self, rng: random.Random) -> Task: ...


class SyntheticTasks:
    """Prompts written by the grammar of neurons/task_text.py."""

    def draw(self, rng: random.Random) -> Task:
        if rng.random() < CHAT_SHARE:
            messages: list[dict[str, str]] = []
            if rng.random() < SYSTEM_MESSAGE_SHARE:
                messages.append({"role": "system", "content": task_text.system_prompt(rng)})
            messages.append({"role": "user", "content": task_text.chat_prompt(rng)})
            return Task(CHAT, 1, None, None, messages=tuple(messages))
        return Task(TEXT, 1, None, None, prompt=task_text.text_prompt(rng))


SYNTHETIC = SyntheticTasks()


def make_task(rng: random.Random, max_tokens: int, source: TaskSource = SYNTHETIC) -> Task:
    """One task drawn from `rng`: a prompt from `source`, then its length, sampling and a seed
    of its own; `max_tokens` bounds the requested length."""
    prompt = source.draw(rng)
    ceiling = max(max_tokens, 1)
    requested = rng.randint(min(MIN_TASK_TOKENS, ceiling), ceiling)
    temperature = rng.choice(TEMPERATURES)
    top_p = rng.choice(TOP_PS) if temperature != 0 else None
    seed = rng.randint(0, MAX_SEED)
    stream = rng.random() < STREAM_SHARE
    return replace(
        prompt,
        max_tokens=requested,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        stream=stream,
    )


def make_tasks(
    seed: int, count: int, max_tokens: int, source: TaskSource = SYNTHETIC
) -> list[Task]:
    """`count` tasks for one round, all determined by `seed`."""
    rng = random.Random(seed)
    return [make_task(rng, max_tokens, source) for _ in range(count)]
