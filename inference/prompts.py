"""From a request to prompt token ids, and the length rules; shared by engine and verifier.

The verifier tokenises the prompt itself with these same functions, so a miner's claim about
its prompt tokens is never needed to verify it.
"""

from __future__ import annotations

from dataclasses import dataclass

from inference.types import GenerationRequest, InvalidRequest


@dataclass(frozen=True)
class Limits:
    """How long prompts and completions may be for one model."""

    context_length: int
    max_new_tokens: int

    def __post_init__(self) -> None:
        if self.context_length < 2:
            raise ValueError(f"context_length must be at least 2, got {self.context_length}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")

    def max_tokens_for(self, prompt_tokens: int) -> int:
        """The largest max_tokens a prompt of this length may ask for."""
        return min(self.max_new_tokens, self.context_length - prompt_tokens)


def encode_prompt(tokenizer, request: GenerationRequest) -> list[int]:
    """Prompt token ids: the chat template for messages, the tokenizer's encoding for text."""
    if request.is_chat:
        if not getattr(tokenizer, "chat_template", None):
            raise InvalidRequest(
                "this model's tokenizer has no chat template: send a text prompt instead"
            )
        messages = [dict(m) for m in request.messages or ()]
        try:
            ids = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=False
            )
        except Exception as exc:  # the template's own refusal (raise_exception) or a bad field
            raise InvalidRequest(f"the model's chat template refused the messages: {exc}") from exc
    else:
        ids = tokenizer.encode(request.prompt)
    ids = [int(i) for i in ids]
    if not ids:
        raise InvalidRequest("the prompt encodes to no tokens: give some text")
    return ids


def check_lengths(prompt_tokens: int, max_tokens: int, limits: Limits) -> None:
    """Refuse prompts that do not fit the context and max_tokens beyond what is left."""
    if prompt_tokens >= limits.context_length:
        raise InvalidRequest(
            f"the prompt is {prompt_tokens} tokens but the model's context is "
            f"{limits.context_length}: shorten the prompt"
        )
    allowed = limits.max_tokens_for(prompt_tokens)
    if max_tokens > allowed:
        raise InvalidRequest(
            f"max_tokens {max_tokens} is above the limit of {allowed} for this prompt "
            f"({prompt_tokens} prompt tokens, context {limits.context_length}, "
            f"at most {limits.max_new_tokens} new tokens): lower max_tokens"
        )


def prepare(tokenizer, request: GenerationRequest, limits: Limits) -> list[int]:
    """Encode and check a request; raises InvalidRequest before any model work."""
    ids = encode_prompt(tokenizer, request)
    check_lengths(len(ids), request.max_tokens, limits)
    return ids
