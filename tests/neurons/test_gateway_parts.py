"""The gateway's pure parts: key store, per-key limits, routing, organic prompts, cost."""

from __future__ import annotations

import random
import sqlite3

import pytest

from neurons.gateway.cli import cost_per_million
from neurons.gateway.limits import WINDOW_S, KeyLimiter
from neurons.gateway.metrics import MinuteTally
from neurons.gateway.organic import OrganicPrompts
from neurons.gateway.routing import COOLDOWN_S, FAILURES_TO_OPEN, Candidate, Router
from neurons.gateway.store import FILE_NAME, GatewayStore, StoreError
from neurons.tasks import CHAT, TEXT, make_task
from protocol import schemas as wire
from protocol.client import Target


@pytest.fixture
def store(tmp_path):
    opened = GatewayStore.open(tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def key_with(store, name="k", rpm=0, tpm=0):
    return store.create_key(name, requests_per_minute=rpm, tokens_per_minute=tpm)[0]


def test_a_key_is_stored_hashed_and_found_by_its_secret(store, tmp_path):
    key, secret = store.create_key("alice", requests_per_minute=5, tokens_per_minute=0)
    assert store.authenticate(secret) == key
    assert store.authenticate(secret + "x") is None
    raw = sqlite3.connect(tmp_path / FILE_NAME).execute("SELECT * FROM keys").fetchall()
    assert secret not in repr(raw)


def test_a_revoked_key_is_known_but_inactive(store):
    key, secret = store.create_key("bob", requests_per_minute=0, tokens_per_minute=0)
    store.revoke("bob")
    assert not store.authenticate(secret).active
    with pytest.raises(StoreError, match="revoked already"):
        store.revoke(key.id)


@pytest.mark.parametrize(
    ("name", "rpm", "said"),
    [("bad name!", 0, "use 1 to 64 letters"), ("ok", -1, "--rpm must be 0")],
)
def test_bad_key_input_is_refused_and_changes_nothing(store, name, rpm, said):
    with pytest.raises(StoreError, match=said):
        store.create_key(name, requests_per_minute=rpm, tokens_per_minute=0)
    assert store.keys() == []


def test_a_taken_name_is_refused(store):
    key_with(store, "carol")
    with pytest.raises(StoreError, match="exists already"):
        key_with(store, "carol")


def test_usage_and_miner_speed_accumulate(store):
    key = key_with(store)
    store.record_usage(key.id, prompt_tokens=3, completion_tokens=5, error=False)
    store.record_usage(key.id, error=True)
    store.record_miner("hk", 4, 10, 2.0)
    store.record_miner("hk", 4, 30, 2.0)
    (usage,) = store.usage()
    assert (usage.requests, usage.errors, usage.total_tokens) == (2, 1, 8)
    (miner,) = store.miners()
    assert (miner.requests, miner.tokens_per_second) == (2, 10.0)


def test_request_limit_refuses_until_the_window_moves(store):
    key = key_with(store, rpm=2)
    limiter = KeyLimiter()
    assert limiter.admit(key, 0.0) is None and limiter.admit(key, 10.0) is None
    refusal = limiter.admit(key, 20.0)
    assert refusal.code == "requests" and refusal.retry_after_s == 40
    assert limiter.admit(key, WINDOW_S + 0.5) is None


def test_token_limit_counts_answered_tokens(store):
    key = key_with(store, tpm=100)
    limiter = KeyLimiter()
    assert limiter.admit(key, 0.0) is None
    limiter.spend(key.id, 120, 1.0)
    assert limiter.admit(key, 2.0).code == "tokens"
    assert limiter.admit(key, WINDOW_S + 1.5) is None


def candidate(uid: int, score: float = 1.0) -> Candidate:
    return Candidate(uid, f"hk{uid}", Target(f"hk{uid}", f"http://127.0.0.1:{uid}"), score)


def shares(router: Router, candidates, draws: int = 4000) -> dict[int, float]:
    rng = random.Random(0)
    picks = [router.choose(candidates, rng, 0.0).uid for _ in range(draws)]
    return {c.uid: picks.count(c.uid) / draws for c in candidates}


def test_a_four_times_slower_miner_gets_a_sixteenth_of_the_weight():
    router = Router()
    router.succeeded("hk1", 0.1, 100.0)
    router.succeeded("hk2", 0.4, 25.0)
    fast, slow = router.weights([candidate(1), candidate(2)])
    assert slow / fast == pytest.approx(1 / 16)


def test_an_unmeasured_miner_is_tried_as_if_fastest():
    router = Router()
    router.succeeded("hk1", 0.1, 100.0)
    got = shares(router, [candidate(1), candidate(2)])
    assert got[2] == pytest.approx(0.5, abs=0.05)


def test_weight_follows_the_score():
    got = shares(Router(), [candidate(1, 0.9), candidate(2, 0.1)])
    assert got[1] == pytest.approx(0.9, abs=0.03)


def test_a_miner_failing_in_a_row_is_skipped_for_the_cooldown():
    router = Router()
    for _ in range(FAILURES_TO_OPEN):
        assert router.choose([candidate(1)], random.Random(0), 0.0) is not None
        router.failed("hk1", 0.0)
    assert router.choose([candidate(1)], random.Random(0), COOLDOWN_S - 1) is None
    assert router.choose([candidate(1)], random.Random(0), COOLDOWN_S + 1) is not None
    router.failed("hk1", COOLDOWN_S + 1)  # half open: one more failure skips it again
    assert router.choose([candidate(1)], random.Random(0), COOLDOWN_S + 2) is None


def test_tried_and_unscored_miners_are_not_chosen():
    pick = Router().choose(
        [candidate(1), candidate(2, 0.0), candidate(3)], random.Random(0), 0.0, exclude={"hk1"}
    )
    assert pick.uid == 3


def chat_body(**fields) -> wire.ChatCompletionRequest:
    return wire.ChatCompletionRequest(
        model="m", messages=[{"role": "user", "content": "organic question"}], **fields
    )


def test_organic_pool_keeps_the_prompt_only_and_forgets_the_oldest():
    pool = OrganicPrompts(capacity=2, share=1.0)
    pool.add(chat_body(user="someone", seed=5, temperature=0.3))
    pool.add(wire.CompletionRequest(model="m", prompt="first text"))
    pool.add(wire.CompletionRequest(model="m", prompt="second text"))
    assert [t.prompt for t in pool.prompts] == ["first text", "second text"]
    task = make_task(random.Random(3), 16, pool)
    assert task.kind == TEXT and task.prompt in ("first text", "second text")
    assert "user" not in task.body("m")


def test_organic_pool_mixes_its_share_with_the_fallback():
    pool = OrganicPrompts(share=0.25)
    pool.add(chat_body())
    rng = random.Random(1)
    organic = sum(
        t.kind == CHAT and t.messages[-1]["content"] == "organic question"
        for t in (pool.draw(rng) for _ in range(2000))
    )
    assert organic / 2000 == pytest.approx(0.25, abs=0.04)


def test_cost_per_million_tokens_from_a_gpu_hour_price():
    assert cost_per_million(3.6, 1000.0) == pytest.approx(1.0)
    assert cost_per_million(3.6, 0.0) is None


def test_the_minute_line_sums_up_requests_speed_miners_and_checks():
    tally = MinuteTally(
        served=3,
        errors={"invalid_api_key": 1},
        completion_tokens=120,
        retries=1,
        ttft_s=[0.2, 0.4, 0.3],
        per_uid={4: 2, 5: 1},
        verified={"pass": 1},
    )
    assert tally.line(60.0) == (
        "gateway | 3 served (1 invalid_api_key), 120 tokens (2.0/s), ttft p50 0.300 s, "
        "1 retries | miners uid 4: 2, uid 5: 1 | verified 1 pass"
    )
