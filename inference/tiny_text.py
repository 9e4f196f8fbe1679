"""The tiny model's tokenizer and the synthetic language it is fitted on (see inference.tiny).

Tokenizer: byte level, token id = byte value for ids 0-255, then the special tokens below.
It is built with the ``tokenizers`` library and wrapped in ``PreTrainedTokenizerFast`` so it
saves and loads like any Hugging Face tokenizer. Plain text is encoded as ``<|bos|>`` + bytes;
the chat template renders ``<|bos|>`` then ``<|role|>content<|eos|>`` per message, and
``<|assistant|>`` when a generation prompt is asked for.

Language: the seed shuffles a fixed list of English words into an order and gives every word
up to two successors further along that order (a dominant one and a rare one), so every walk
ends; the last words of the order end a sentence. A sample is one walk, written as words
separated by spaces and closed by "." and end-of-sequence, either as plain text or split
into a user message and the assistant's reply.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
ROLES = ("system", "user", "assistant")
SPECIAL_TOKENS = (BOS, EOS, PAD, *(f"<|{role}|>" for role in ROLES))
BYTE_VOCAB = 256

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('roles must be system, user or assistant, not ' + message['role']) }}"
    "{% endif %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + eos_token }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)

# The shared vocabulary of every seed's language (a seed only reorders and links them).
WORDS = tuple(
    (  # noqa: SIM905 - a line of words reads better than fifty quoted ones
        "the a river stone light old green small quiet bright cold warm night morning sea hill "
        "road house bird wind rain tree field city song story friend hand voice fire water "
        "cloud star sun moon walks sings falls grows waits turns shines rests runs sleeps over "
        "under near"
    ).split()
)
# How many words at the end of the shuffled order end a sentence.
FINAL_WORDS = 6
# A word's successors are drawn among the next SUCCESSOR_REACH words of the order.
SUCCESSOR_REACH = 7
# Probability that a walk takes a word's dominant successor rather than its rare one.
DOMINANT_SUCCESSOR = 0.8
# A walk starts at one of the first START_WORDS words of the order.
START_WORDS = 10
# Probability that a sample is a chat exchange rather than plain text.
CHAT_SHARE = 0.5


@dataclass(frozen=True)
class Sample:
    """One training text: plain ``text``, or a chat ``user`` message and ``reply``."""

    text: str = ""
    user: str = ""
    reply: str = ""

    @property
    def is_chat(self) -> bool:
        return bool(self.user)


def _byte_to_char() -> dict[int, str]:
    """Printable stand-in for each byte, as in GPT-2's byte-level BPE."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(BYTE_VOCAB):
        if b not in chars:
            chars[b] = chr(BYTE_VOCAB + extra)
            extra += 1
    return chars


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level tokenizer with bos/eos/pad, role tokens and the chat template."""
    vocab = {char: byte for byte, char in _byte_to_char().items()}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(list(SPECIAL_TOKENS))
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", special_tokens=[(BOS, core.token_to_id(BOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        chat_template=CHAT_TEMPLATE,
    )


def _language(seed: int) -> tuple[list[str], dict[str, list[str]]]:
    rng = random.Random(seed)
    order = list(WORDS)
    rng.shuffle(order)
    successors: dict[str, list[str]] = {}
    for i, word in enumerate(order):
        reach = range(i + 1, min(len(order), i + 1 + SUCCESSOR_REACH))
        if i >= len(order) - FINAL_WORDS or not reach:
            successors[word] = []
        else:
            successors[word] = [order[j] for j in rng.sample(reach, k=min(2, len(reach)))]
    return order, successors


def _walk(rng: random.Random, order: list[str], successors: dict[str, list[str]]) -> list[str]:
    word = order[rng.randrange(START_WORDS)]
    words = [word]
    while successors[word]:
        nexts = successors[word]
        dominant = len(nexts) == 1 or rng.random() < DOMINANT_SUCCESSOR
        word = nexts[0] if dominant else nexts[1]
        words.append(word)
    return words


def synthetic_samples(seed: int, count: int) -> list[Sample]:
    """``count`` samples of the language of ``seed`` (deterministic)."""
    order, successors = _language(seed)
    rng = random.Random(f"samples-{seed}")
    samples = []
    for _ in range(count):
        words = _walk(rng, order, successors)
        if rng.random() < CHAT_SHARE and len(words) > 1:
            cut = rng.randrange(1, len(words))
            samples.append(Sample(user=" ".join(words[:cut]), reply=" ".join(words[cut:]) + "."))
        else:
            samples.append(Sample(text=" ".join(words) + "."))
    return samples


def encode_training_sample(tokenizer: PreTrainedTokenizerFast, sample: Sample) -> list[int]:
    """Token ids of a sample as the model should see it, ending with end-of-sequence."""
    if sample.is_chat:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": sample.user}],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )
        body = tokenizer.encode(sample.reply, add_special_tokens=False)
        return [*prompt, *body, tokenizer.eos_token_id]
    return [*tokenizer.encode(sample.text), tokenizer.eos_token_id]
