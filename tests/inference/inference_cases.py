"""Requests and seeds shared by the inference tests."""

from __future__ import annotations

from inference.types import GenerationRequest

HONEST_SEED = 0
CHEATER_SEED = 1

# Mixed lengths and both request kinds, so batches hold rows of very different widths.
PROMPTS = (
    "the river",
    "a",
    "cold morning sea walks over the hill and the road turns near the old house",
    "stone",
    "quiet night",
    "the wind sings under the bright moon while the small bird sleeps",
    "fire",
    "green field and",
    "warm rain falls",
    "the city",
    "hand",
    "over the water the cloud rests and the star shines and the sun",
    "song",
    "old tree grows",
    "voice of a friend",
    "light",
)


def request_for(i: int, **overrides) -> GenerationRequest:
    """Request number i: even ones plain text, odd ones chat."""
    fields = {"max_tokens": 24, **overrides}
    if i % 2:
        return GenerationRequest(messages=[{"role": "user", "content": PROMPTS[i]}], **fields)
    return GenerationRequest(prompt=PROMPTS[i], **fields)
