"""The words of synthetic tasks: a small grammar of what people ask a language model.

A prompt is one *request* (an intent in one of several phrasings, its slots filled from the
word lists below) wrapped in the habits of a person typing: an optional greeting, a reason,
a constraint on the answer, politeness, lower case, missing final punctuation. Intents span
explaining, writing, rewriting, summarising, translating, lists, comparisons, advice, code,
arithmetic word problems with their own numbers, and questions about a passage made up on the
spot. Every prompt carries at least one freshly drawn number, name or passage, so prompts do
not repeat (tests/neurons/test_task_generator.py draws 100,000 without a repeat).

The grammar is public, so a miner can port it and recognise its prompts; what keeps that
useless is elsewhere (neurons/tasks.py): every query has a seed of its own and every token is
verified, and organic prompts mix into the same stream.
"""

from __future__ import annotations

import random
from collections.abc import Callable

FIRST_NAMES = (
    "Ada", "Bruno", "Chen", "Dara", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
    "Kemal", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tomas",
    "Uma", "Viktor", "Wen", "Yara", "Zoe", "Aiko", "Bea", "Cyrus", "Dmitri", "Esme",
)  # fmt: skip
SUBJECTS = (
    "a lighthouse keeper", "a retired astronaut", "a street musician", "a beekeeper",
    "a chess club", "a small bakery", "a mountain village", "a night train", "a museum guard",
    "a robot vacuum", "a city library", "a fishing boat", "a startup founder", "a school choir",
    "an old clockmaker", "a desert caravan", "a hospital nurse", "a research ship",
    "a garden snail", "a jazz trio", "a volunteer firefighter", "a kite festival",
    "a bicycle courier", "a lost umbrella", "a family of otters", "a small-town mayor",
    "a hotel receptionist", "a tired dragon", "a vegetable market", "a new intern",
)  # fmt: skip
TOPICS = (
    "photosynthesis", "compound interest", "the water cycle", "public key cryptography",
    "how vaccines work", "plate tectonics", "the French revolution", "supply and demand",
    "binary search", "garbage collection", "the immune system", "black holes", "inflation",
    "recursion", "sourdough fermentation", "ocean tides", "electric motors", "jet streams",
    "the printing press", "version control", "sleep cycles", "solar panels", "hash tables",
    "the Roman aqueducts", "climate feedback loops", "index funds", "DNS", "composting",
    "the placebo effect", "noise-cancelling headphones", "bird migration", "container ships",
)  # fmt: skip
AUDIENCES = (
    "a ten-year-old", "a busy manager", "a first-year student", "my grandmother",
    "a software engineer", "a nervous beginner", "a curious teenager", "a retired teacher",
    "a new employee", "my team", "a skeptical investor", "a group of tourists",
)  # fmt: skip
TONES = (
    "friendly", "formal", "playful", "concise", "enthusiastic", "calm", "dry", "warm",
    "persuasive", "neutral", "humorous", "encouraging",
)  # fmt: skip
FORMATS = (
    "a haiku", "a limerick", "two short paragraphs", "a bulleted list", "one sentence",
    "a short dialogue", "a numbered list of steps", "a tweet", "a short poem", "a product blurb",
    "a diary entry", "a news headline",
)  # fmt: skip
LANGUAGES = ("French", "Spanish", "German", "Italian", "Portuguese", "Dutch", "Polish", "Swedish")
CODE_LANGUAGES = ("Python", "JavaScript", "Go", "Rust", "SQL", "Bash", "Java", "C")
CODE_TASKS = (
    "reverses a string", "counts the words in a file", "checks whether a number is prime",
    "removes duplicates from a list", "parses a date like 2024-03-15", "merges two sorted lists",
    "finds the largest value in a list", "converts Celsius to Fahrenheit",
    "retries a request up to {n} times", "splits a list into chunks of {n}",
)  # fmt: skip
GOODS = ("apples", "notebooks", "tickets", "bottles of water", "pencils", "loaves of bread")
PLACES = (
    "Lisbon", "Nairobi", "Oslo", "Kyoto", "Lima", "Toronto", "Hanoi", "Tbilisi", "Adelaide",
    "Marseille", "Cork", "Porto Alegre",
)  # fmt: skip
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
WORDS = (
    "river", "window", "quiet", "orange", "market", "winter", "signal", "paper", "engine",
    "garden", "silver", "morning", "bridge", "letter", "forest", "careful", "number", "island",
    "simple", "yellow", "summer", "basket", "candle", "planet", "travel", "copper", "harbor",
    "gentle", "rocket", "mirror", "pencil", "meadow", "thunder", "velvet", "ladder", "button",
    "station", "blanket", "kitchen", "journey", "lantern", "pebble", "shadow", "whisper",
    "circle", "honest", "rapid", "hollow", "bright", "distant", "patient", "tiny", "ancient",
)  # fmt: skip
SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a concise assistant. Answer briefly.",
    "You are a friendly tutor who explains things step by step.",
    "You are an expert writer. Keep answers vivid and short.",
    "You answer questions accurately and say when you are unsure.",
    "You are a senior engineer reviewing questions from colleagues.",
    "Reply in plain language without jargon.",
    "You are {name}'s personal assistant.",
)
# The person's wrapping around a request (each drawn independently; "" leaves it out).
GREETINGS = ("", "", "", "", "Hi! ", "hey, ", "Hello. ", "Good morning. ", "Quick question: ")
# Reasons and constraints that carry a detail of their own (a name, a date, a number): a
# request whose phrasing has no passage, sentence or number always gets one of each, so that
# short requests do not repeat either.
DETAILED_REASONS = (
    "I'm preparing a talk for {audience} on {month} {day}. ",
    "My colleague {name} asked me this after our {k} pm meeting. ",
    "I have {n} minutes before my call with {name}. ",
    "I'm writing about {subject} in {place}. ",
    "{name} and I argued about this for {k} hours. ",
    "It's for a {year} history class. ",
)
DETAILED_CONSTRAINTS = (
    " Keep it under {n} words.",
    " Use at most {k} bullet points and under {n} words.",
    " Give {k} examples, one from {place}.",
    " Answer in {language}, in under {n} words.",
    " Be {tone} and mention {name}.",
)
REASONS = ("", "", "", "", "This is for a school project. ", "I keep forgetting this. ")
REASONS += DETAILED_REASONS
CONSTRAINTS = ("", "", "", "", " Be {tone}.", " Start with a one-line summary.")
CONSTRAINTS += (" Avoid technical terms.", *DETAILED_CONSTRAINTS)
# Slots that make a phrasing unlikely to repeat on their own.
DETAILED_SLOTS = ("{passage}", "{sentence}", "{price}", "{count}", "{n}")
POLITE = ("", "", "", " Thanks!", " Thank you.", " please", " thx")
SENTENCE_WORDS = (6, 14)
MAX_CONTEXT_SENTENCES = 6
# Share of prompts typed in lower case, and of those whose final punctuation is dropped.
LOWER_CASE_SHARE = 0.15
NO_FINAL_STOP_SHARE = 0.2
# Ranges of the numbers the grammar draws ("under {n} words", prices, counts).
SMALL_RANGE = (2, 9)
WORD_COUNT_RANGE = (15, 240)
PRICE_CENTS_RANGE = (35, 9_999)
COUNT_RANGE = (3, 480)
YEAR_RANGE = (1820, 2024)


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(*SENTENCE_WORDS))
    return " ".join(words).capitalize() + "."


def passage(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(1, MAX_CONTEXT_SENTENCES)))


class Slots(dict):
    """The values a phrasing's ``{slot}`` names take, each drawn when first used, so that a
    phrasing pays only for the slots it has (``str.format_map`` asks for them)."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def __missing__(self, name: str) -> str:
        value = self[name] = SLOT_MAKERS[name](self.rng)
        return value


def _price(rng: random.Random) -> str:
    cents = rng.randint(*PRICE_CENTS_RANGE)
    return f"{cents // 100}.{cents % 100:02d}"


def _code_task(rng: random.Random) -> str:
    return rng.choice(CODE_TASKS).format(n=rng.randint(*SMALL_RANGE))


SLOT_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "name": lambda rng: rng.choice(FIRST_NAMES),
    "other": lambda rng: rng.choice(FIRST_NAMES),
    "subject": lambda rng: rng.choice(SUBJECTS),
    "topic": lambda rng: rng.choice(TOPICS),
    "topic2": lambda rng: rng.choice(TOPICS),
    "audience": lambda rng: rng.choice(AUDIENCES),
    "tone": lambda rng: rng.choice(TONES),
    "format": lambda rng: rng.choice(FORMATS),
    "language": lambda rng: rng.choice(LANGUAGES),
    "code_language": lambda rng: rng.choice(CODE_LANGUAGES),
    "code_task": _code_task,
    "goods": lambda rng: rng.choice(GOODS),
    "place": lambda rng: rng.choice(PLACES),
    "month": lambda rng: rng.choice(MONTHS),
    "day": lambda rng: str(rng.randint(1, 28)),
    "year": lambda rng: str(rng.randint(*YEAR_RANGE)),
    "k": lambda rng: str(rng.randint(*SMALL_RANGE)),
    "n": lambda rng: str(rng.randint(*WORD_COUNT_RANGE)),
    "count": lambda rng: str(rng.randint(*COUNT_RANGE)),
    "count2": lambda rng: str(rng.randint(*COUNT_RANGE)),
    "price": _price,
    "sentence": sentence,
    "passage": passage,
    "word": lambda rng: rng.choice(WORDS),
}


# Chat requests by intent; each phrasing is a format string over `slots`.
CHAT_INTENTS: dict[str, tuple[str, ...]] = {
    "explain": (
        "Explain {topic} to {audience}.",
        "Can you explain {topic} in simple terms?",
        "How does {topic} actually work?",
        "What is {topic}, and why does it matter?",
        "ELI5: {topic}",
        "I never understood {topic}. Walk me through it.",
    ),
    "write": (
        "Write {format} about {subject}.",
        "Write {format} about {subject} named {name}.",
        "Compose {format} that mentions {topic}.",
        "Can you write {format} for {name}'s birthday?",
        "write a short story ({n} words max) about {subject} in {place}",
    ),
    "rewrite": (
        "Rewrite this in a {tone} tone:\n\n{passage}",
        "Make this sound more {tone}:\n{passage}",
        "Fix the grammar in this paragraph:\n\n{passage}",
        "Shorten this to one sentence: {passage}",
    ),
    "summarize": (
        "Summarize the following text in one sentence:\n\n{passage}",
        "TL;DR of this please:\n{passage}",
        "What is the main idea of this passage?\n\n{passage}",
        "Give me {k} key points from this:\n\n{passage}",
    ),
    "translate": (
        "Translate into {language}: {sentence}",
        'How would you say "{sentence}" in {language}?',
        "Translate this to {language} and keep the tone: {passage}",
    ),
    "list": (
        "Give me {k} facts about {topic}.",
        "List {k} ideas for a weekend in {place}.",
        "List some pros and cons of {topic} for {subject}.",
        "What are {k} common mistakes beginners make with {topic}?",
        "Suggest {k} names for {subject}.",
    ),
    "compare": (
        "Compare {topic} and {topic2}.",
        "What do {topic} and {topic2} have in common?",
        "Which is harder to learn, {topic} or {topic2}, and why?",
    ),
    "advice": (
        "My friend {name} wants to learn about {topic}. Where should they start?",
        "How should I prepare for a trip to {place} in {month}?",
        "I'm {audience} and I want to understand {topic}. Any tips?",
        "What could {subject} learn from {topic}?",
    ),
    "email": (
        "Write a short {tone} email to {audience} about {topic}.",
        "Draft a reply to {name} saying I can't make the meeting on {month} {day}.",
        "Write a {tone} message asking {name} to review my notes on {topic}.",
    ),
    "code": (
        "Write a {code_language} function that {code_task}.",
        "In {code_language}, how do I write something that {code_task}?",
        "Show me {code_language} code that {code_task}, with a short explanation.",
    ),
    "arithmetic": (
        "{name} buys {count} {goods} at ${price} each. How much does {name} spend?",
        "A train leaves {place} at {k} pm and travels {count} km at {count2} km/h. "
        "When does it arrive?",
        "If {name} has {count} {goods} and gives {other} {k}, how many are left?",
        "What is {count} times {count2}? Show your working.",
    ),
    "passage_question": (
        "Read this and answer: which word appears most often?\n\n{passage}",
        "{passage}\n\nWhat is the mood of the text above?",
        'Here is a note from {name}: "{sentence}" What do you think they mean?',
        'Is this sentence positive, negative or neutral? "{sentence}"',
    ),
    "history": (
        "What happened in {place} in {year}?",
        "Tell me about life in {year} for {subject}.",
        "Who would have cared about {topic} in {year}, and why?",
    ),
}
# Plain text prompts (for /v1/completions): openings of documents a model continues.
TEXT_OPENINGS = (
    "Once upon a time, {subject}",
    "The most important thing to understand about {topic} is",
    "{passage}\n\nIn summary,",
    "Q: What is {topic}?\nA:",
    "Dear {audience},\n\nI am writing to you about {topic}.",
    "Chapter {k}\n\n{passage}",
    "Here is {format} about {subject}:\n",
    "Notes on {topic} ({month} {day}, {year}):\n1.",
    "{place}, {month} {day} - {name}, {subject}, said on Tuesday that",
    "Recipe for {k} people\n\nIngredients:\n-",
    "# {code_language}: a function that {code_task}\n",
    "From: {name}\nTo: {other}\nSubject: {topic}\n\nHi {other},\n\n",
    "Meeting notes, {month} {day}\nAttendees: {name}, {other}\n\n- ",
    "{name}: have you read about {topic}?\n{other}:",
    "Review: {subject} ({k}/10)\n\n",
)
# Headers a document may start with; they carry a detail of their own (see DETAILED_SLOTS).
DOCUMENT_HEADERS = (
    "{month} {day}, {year} ({count} views)\n\n",
    "Posted by {name} on {month} {day}, {year} - {count} comments\n\n",
    "Draft of {month} {day}, {year}: {n} words so far\n\n",
    "{place} Weekly, issue {count}, page {count2} ({year})\n\n",
)


def _typed(text: str, rng: random.Random) -> str:
    """How people type: sometimes all lower case, sometimes without the final stop."""
    if rng.random() < LOWER_CASE_SHARE:
        text = text.lower()
    if rng.random() < NO_FINAL_STOP_SHARE and text.endswith((".", "?")):
        text = text[:-1]
    return text


def chat_prompt(rng: random.Random) -> str:
    """One user message: a request in the words and habits of a person."""
    phrasing = rng.choice(CHAT_INTENTS[rng.choice(INTENT_NAMES)])
    detailed = any(slot in phrasing for slot in DETAILED_SLOTS)
    reasons = REASONS if detailed else DETAILED_REASONS
    constraints = CONSTRAINTS if detailed else DETAILED_CONSTRAINTS
    template = (
        rng.choice(GREETINGS)
        + rng.choice(reasons)
        + phrasing
        + rng.choice(constraints)
        + rng.choice(POLITE)
    )
    return _typed(template.format_map(Slots(rng)), rng)


def system_prompt(rng: random.Random) -> str:
    return rng.choice(SYSTEM_PROMPTS).format_map(Slots(rng))


def text_prompt(rng: random.Random) -> str:
    """One document opening to continue; one without a detail of its own gets a header."""
    opening = rng.choice(TEXT_OPENINGS)
    if not any(slot in opening for slot in DETAILED_SLOTS):
        opening = rng.choice(DOCUMENT_HEADERS) + opening
    return opening.format_map(Slots(rng))


INTENT_NAMES = tuple(CHAT_INTENTS)
