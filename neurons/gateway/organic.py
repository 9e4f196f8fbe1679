"""Organic prompts as synthetic tasks: the validator's rounds draw some prompts from what
paying users sent, so miners cannot tell the two kinds of traffic apart by their content.

    pool = OrganicPrompts(capacity=1024, share=0.25)
    pool.add(request_body)               # after an answer was served
    validator.task_source = pool         # a TaskSource (neurons/tasks.py)

Only the prompt is kept (the chat messages' roles and text, or the completion prompt): never
the API key, the `user` field or any sampling field; a task made from it gets a fresh length,
sampling and seed from `neurons.tasks.make_task` like any other. The pool is bounded: the
newest `capacity` prompts, older ones forgotten.
"""

from __future__ import annotations

import random
from collections import deque

from neurons.tasks import CHAT, SYNTHETIC, TEXT, Task, TaskSource
from protocol import schemas as wire

DEFAULT_CAPACITY = 1024


class OrganicPrompts:
    """A TaskSource: a `share` of draws from recent organic prompts, the rest from `fallback`."""

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        share: float = 0.25,
        fallback: TaskSource = SYNTHETIC,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if not 0 <= share <= 1:
            raise ValueError(f"share must be between 0 and 1, got {share}")
        self.prompts: deque[Task] = deque(maxlen=capacity)
        self.share = share
        self.fallback = fallback

    def __len__(self) -> int:
        return len(self.prompts)

    def add(self, body: wire.ChatCompletionRequest | wire.CompletionRequest) -> None:
        """Keep the prompt of a served request (token-id prompts are not kept)."""
        if isinstance(body, wire.ChatCompletionRequest):
            messages = tuple({"role": m.role, "content": m.text()} for m in body.messages)
            self.prompts.append(Task(CHAT, 1, None, None, messages=messages))
        elif isinstance(body.prompt, str) and body.prompt:
            self.prompts.append(Task(TEXT, 1, None, None, prompt=body.prompt))

    def draw(self, rng: random.Random) -> Task:
        if self.prompts and rng.random() < self.share:
            return self.prompts[rng.randrange(len(self.prompts))]
        return self.fallback.draw(rng)
