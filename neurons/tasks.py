"""Synthetic tasks: the work a validator sends miners, looking like what a paying user sends.

Tasks are built from templates and word lists shipped here (no datasets), varied in kind
(chat with or without a system message, plain text completion), topic, prompt length and
requested length. A task carries only ordinary OpenAI request fields (model, messages or
prompt, max_tokens, temperature, ...), nothing that marks it as a test.

Unpredictability comes from the seed: a keyed hash of the validator's secret, the round
number and the current block, so a miner that knows this code, the round and the block still
cannot compute the tasks. The generator itself is pure: the same seed gives the same tasks.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import dataclass
from typing import Any

SEED_BYTES = 8
SECRET_BYTES = 32
# Requested lengths are drawn between this floor and the validator's --validator.max_tokens.
MIN_TASK_TOKENS = 8
# How much context a long prompt carries, in sentences.
MAX_CONTEXT_SENTENCES = 6
SENTENCE_WORDS = (6, 14)

CHAT = "chat"
TEXT = "text"

SUBJECTS = (
    "a lighthouse keeper",
    "a retired astronaut",
    "a street musician",
    "a beekeeper",
    "a chess club",
    "a small bakery",
    "a mountain village",
    "a night train",
    "a museum guard",
    "a robot vacuum",
    "a city library",
    "a fishing boat",
    "a startup founder",
    "a school choir",
    "an old clockmaker",
    "a desert caravan",
    "a hospital nurse",
    "a research ship",
    "a garden snail",
    "a jazz trio",
    "a volunteer firefighter",
    "a kite festival",
)
TOPICS = (
    "photosynthesis",
    "compound interest",
    "the water cycle",
    "public key cryptography",
    "how vaccines work",
    "plate tectonics",
    "the French revolution",
    "supply and demand",
    "binary search",
    "garbage collection",
    "the immune system",
    "black holes",
    "inflation",
    "recursion",
    "sourdough fermentation",
    "ocean tides",
    "electric motors",
    "jet streams",
    "the printing press",
    "version control",
    "sleep cycles",
    "solar panels",
)
AUDIENCES = (
    "a ten-year-old",
    "a busy manager",
    "a first-year student",
    "my grandmother",
    "a software engineer",
    "a nervous beginner",
    "a curious teenager",
    "a retired teacher",
)
TONES = ("friendly", "formal", "playful", "concise", "enthusiastic", "calm", "dry", "warm")
FORMATS = (
    "a haiku",
    "a limerick",
    "two short paragraphs",
    "a bulleted list",
    "one sentence",
    "a short dialogue",
    "a numbered list of steps",
    "a tweet",
)
LANGUAGES = ("French", "Spanish", "German", "Italian", "Portuguese", "Dutch")
WORDS = (
    "river",
    "window",
    "quiet",
    "orange",
    "market",
    "winter",
    "signal",
    "paper",
    "engine",
    "garden",
    "silver",
    "morning",
    "bridge",
    "letter",
    "forest",
    "careful",
    "number",
    "island",
    "simple",
    "yellow",
    "summer",
    "basket",
    "candle",
    "planet",
    "travel",
    "copper",
    "harbor",
    "gentle",
    "rocket",
    "mirror",
    "pencil",
    "meadow",
    "thunder",
    "velvet",
    "ladder",
    "button",
    "station",
    "blanket",
    "kitchen",
    "journey",
    "lantern",
    "pebble",
    "shadow",
    "whisper",
    "circle",
    "honest",
    "rapid",
    "hollow",
    "bright",
    "distant",
    "patient",
    "tiny",
    "ancient",
)
SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a concise assistant. Answer briefly.",
    "You are a friendly tutor who explains things step by step.",
    "You are an expert writer. Keep answers vivid and short.",
    "You answer questions accurately and say when you are unsure.",
)
CHAT_TEMPLATES = (
    "Write {format} about {subject}.",
    "Explain {topic} to {audience}.",
    "Explain {topic} in a {tone} tone.",
    "Give me three facts about {topic}.",
    "What could {subject} learn from {topic}?",
    "Translate into {language}: {sentence}",
    "Summarize the following text in one sentence:\n\n{context}",
    "Rewrite this in a {tone} tone:\n\n{context}",
    "Continue this story about {subject}:\n\n{context}",
    "What is the main idea of this passage?\n\n{context}",
    "Write a short {tone} email to {audience} about {topic}.",
    "List some pros and cons of {topic} for {subject}.",
)
TEXT_TEMPLATES = (
    "Once upon a time, {subject}",
    "The most important thing to understand about {topic} is",
    "{context}\n\nIn summary,",
    "Q: What is {topic}?\nA:",
    "Dear {audience},\n\nI am writing to you about {topic}.",
    "Chapter 1\n\n{context}",
    "Here is {format} about {subject}:\n",
    "Notes on {topic}:\n1.",
)
# None: the field is left out, as many clients do (OpenAI's default temperature is 1).
TEMPERATURES = (0.0, 0.0, 0.2, 0.7, 1.0, None)
TOP_PS = (None, None, 0.9, 0.95)
# Share of tasks that carry a `seed`: verification does not need one (it checks ranks and the
# nucleus, not a replay), so tasks send it about as often as clients do.
SEED_SHARE = 0.3
# Shares of chat tasks among all, and of system messages among chats: both kinds of request,
# and chats with and without a system prompt, are common in what users send.
CHAT_SHARE = 0.5
SYSTEM_MESSAGE_SHARE = 0.6


@dataclass(frozen=True)
class Task:
    """One request body, as a user would send it to /v1/chat/completions or /v1/completions."""

    kind: str  # CHAT or TEXT
    max_tokens: int
    temperature: float | None  # None: left out of the request
    seed: int | None  # the OpenAI `seed` field; None: left out
    messages: tuple[dict[str, str], ...] = ()
    prompt: str = ""
    top_p: float | None = None

    def body(self, model: str) -> dict[str, Any]:
        """The JSON body: ordinary OpenAI fields only."""
        body: dict[str, Any] = {"model": model, "max_tokens": self.max_tokens}
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


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(*SENTENCE_WORDS))
    return " ".join(words).capitalize() + "."


def _context(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(1, MAX_CONTEXT_SENTENCES)))


def _fill(template: str, rng: random.Random) -> str:
    slots = {
        "subject": rng.choice(SUBJECTS),
        "topic": rng.choice(TOPICS),
        "audience": rng.choice(AUDIENCES),
        "tone": rng.choice(TONES),
        "format": rng.choice(FORMATS),
        "language": rng.choice(LANGUAGES),
        "sentence": _sentence(rng),
        "context": _context(rng),
    }
    return template.format(**slots)


def make_task(rng: random.Random, max_tokens: int) -> Task:
    """One task drawn from `rng`; `max_tokens` bounds the requested length."""
    ceiling = max(max_tokens, 1)
    requested = rng.randint(min(MIN_TASK_TOKENS, ceiling), ceiling)
    temperature = rng.choice(TEMPERATURES)
    top_p = rng.choice(TOP_PS) if temperature != 0 else None
    seed = rng.getrandbits(31) if rng.random() < SEED_SHARE else None
    if rng.random() < CHAT_SHARE:
        messages: list[dict[str, str]] = []
        if rng.random() < SYSTEM_MESSAGE_SHARE:
            messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
        messages.append({"role": "user", "content": _fill(rng.choice(CHAT_TEMPLATES), rng)})
        return Task(CHAT, requested, temperature, seed, messages=tuple(messages), top_p=top_p)
    prompt = _fill(rng.choice(TEXT_TEMPLATES), rng)
    return Task(TEXT, requested, temperature, seed, prompt=prompt, top_p=top_p)


def make_tasks(seed: int, count: int, max_tokens: int) -> list[Task]:
    """`count` tasks for one round, all determined by `seed`."""
    rng = random.Random(seed)
    return [make_task(rng, max_tokens) for _ in range(count)]
