"""Synthetic tasks: deterministic per seed, unpredictable without the secret, ordinary-looking."""

from __future__ import annotations

from neurons.tasks import CHAT, TEXT, make_tasks, new_secret, round_seed

# Fields a client of the OpenAI API sends; a task must not carry anything else.
OPENAI_CHAT_FIELDS = {"model", "messages", "max_tokens", "temperature", "top_p", "seed"}
OPENAI_TEXT_FIELDS = {"model", "prompt", "max_tokens", "temperature", "top_p", "seed"}


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
