"""Synthetic tasks: deterministic per seed, unpredictable without the secret, ordinary-looking,
never repeated, each with a seed of its own."""

from __future__ import annotations

import random

from inference.types import MAX_SEED
from neurons.tasks import CHAT, TEXT, Task, make_task, make_tasks, new_secret, round_seed

# The bar: no prompt repeats among this many drawn tasks.
NO_REPEAT_DRAWS = 100_000

# Fields a client of the OpenAI API sends; a task must not carry anything else.
OPENAI_CHAT_FIELDS = {"model", "messages", "max_tokens", "temperature", "top_p", "seed", "stream"}
OPENAI_TEXT_FIELDS = {"model", "prompt", "max_tokens", "temperature", "top_p", "seed", "stream"}


def test_same_seed_gives_the_same_tasks():
    assert make_tasks(42, 20, 64) == make_tasks(42, 20, 64)


def test_different_seeds_give_different_tasks():
    assert make_tasks(1, 20, 64) != make_tasks(2, 20, 64)


def test_round_seed_depends_on_the_secret():
    assert round_seed(new_secret(), 5, 100) != round_seed(new_secret(), 5, 100)


def test_round_seed_changes_with_round_and_block():
    secret = new_secret()
    seeds = {round_seed(secret, 5, 100), round_seed(secret, 6, 100), round_seed(secret, 5, 101)}
    assert len(seeds) == 3


def test_tasks_mix_chat_and_text_kinds():
    kinds = {task.kind for task in make_tasks(7, 100, 64)}
    assert kinds == {CHAT, TEXT}


def test_tasks_vary_in_requested_length_within_the_bound():
    lengths = [task.max_tokens for task in make_tasks(7, 100, 48)]
    assert max(lengths) <= 48
    assert len(set(lengths)) > 10


def test_tasks_vary_in_prompt_length():
    tasks = make_tasks(11, 100, 64)
    sizes = [
        sum(len(m["content"]) for m in t.messages) if t.kind == CHAT else len(t.prompt)
        for t in tasks
    ]
    assert max(sizes) > 3 * min(sizes)


def test_tasks_in_one_round_are_all_different():
    bodies = [repr(task.body("m")) for task in make_tasks(3, 64, 64)]
    assert len(set(bodies)) == len(bodies)


def test_task_bodies_carry_only_ordinary_openai_fields():
    for task in make_tasks(5, 100, 64):
        body = task.body("the-model")
        allowed = OPENAI_CHAT_FIELDS if task.kind == CHAT else OPENAI_TEXT_FIELDS
        assert set(body) <= allowed
        assert body["model"] == "the-model"


def test_chat_messages_end_with_a_user_turn():
    for task in make_tasks(9, 100, 64):
        if task.kind == CHAT:
            assert task.messages[-1]["role"] == "user"
            assert all(m["role"] in ("system", "user") for m in task.messages)


def test_a_tiny_token_bound_is_respected():
    assert {task.max_tokens for task in make_tasks(1, 30, 1)} == {1}


def _prompt_of(task: Task) -> str:
    return repr(task.messages) if task.kind == CHAT else task.prompt


def test_no_prompt_repeats_in_a_hundred_thousand_tasks():
    prompts = {_prompt_of(task) for task in make_tasks(2024, NO_REPEAT_DRAWS, 64)}
    assert len(prompts) == NO_REPEAT_DRAWS


def test_every_task_carries_a_seed_of_its_own():
    tasks = make_tasks(3, 2000, 64)
    seeds = [task.seed for task in tasks]
    assert all(seed is not None and 0 <= seed <= MAX_SEED for seed in seeds)
    assert len(set(seeds)) == len(seeds)


def test_two_rounds_never_share_a_seed():
    secret = new_secret()
    first = make_tasks(round_seed(secret, 1, 100), 500, 64)
    second = make_tasks(round_seed(secret, 2, 101), 500, 64)
    assert not {t.seed for t in first} & {t.seed for t in second}


class _FixedPrompts:
    """A task source standing in for organic prompts: it gives only the prompt."""

    def __init__(self, prompts: list[str]) -> None:
        self.prompts = prompts

    def draw(self, rng: random.Random) -> Task:
        return Task(TEXT, 1, None, None, prompt=rng.choice(self.prompts))


def test_another_task_source_gets_the_same_sampling_and_a_fresh_seed():
    source = _FixedPrompts(["a prompt somebody sent"])
    rng = random.Random(5)
    tasks = [make_task(rng, 48, source) for _ in range(50)]
    assert {t.prompt for t in tasks} == {"a prompt somebody sent"}
    assert len({t.seed for t in tasks}) == 50
    assert all(8 <= t.max_tokens <= 48 for t in tasks)
    assert len({t.temperature for t in tasks}) > 2


def test_some_tasks_are_asked_as_streams_as_users_ask_them():
    tasks = make_tasks(12, 500, 64)
    streamed = sum(task.stream for task in tasks)
    assert 0.3 * len(tasks) < streamed < 0.5 * len(tasks)
    assert all(task.body("m").get("stream") is True for task in tasks if task.stream)
