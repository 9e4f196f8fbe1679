"""The validator's pure round logic: sampling, weight schedule, judging and combining answers."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from neuron_helpers import completion_reply, proven_choice

from inference.types import GenerationRequest, ModelOutOfMemory, Usage, Verdict, VerifyItem
from neurons import checking, translate
from neurons.checking import VERIFIED, Judgement, Result, judge_round, per_miner
from neurons.rewards import Outcome
from neurons.rounds import rotating_sample, weights_due
from protocol import schemas as wire
from protocol.client import Failure, FailureReason, Reply, Target

TARGET = Target("5Miner", "http://127.0.0.1:1")
REQUEST = GenerationRequest(prompt="the river", max_tokens=4, temperature=0.0)
BODY = wire.CompletionRequest(model="m", prompt="the river", max_tokens=4, temperature=0)


@given(st.integers(1, 300), st.integers(1, 64), st.integers(0, 10_000))
def test_rotating_sample_queries_every_miner_within_a_full_turn(n, size, start):
    candidates = list(range(n))
    turn = math.ceil(n / size)
    seen = {uid for r in range(start, start + turn) for uid in rotating_sample(candidates, size, r)}
    assert seen == set(candidates)


def test_small_subnets_are_queried_whole_every_round():
    assert rotating_sample([3, 4, 5], 64, 17) == [3, 4, 5]


def test_weights_wait_for_the_longer_of_the_interval_and_the_rate_limit():
    assert not weights_due(
        block=150, last_weight_block=100, last_update=0, every=20, rate_limit=100
    )
    assert weights_due(block=200, last_weight_block=100, last_update=0, every=20, rate_limit=100)


def test_weights_count_from_the_chains_record_when_it_is_later():
    assert not weights_due(
        block=130, last_weight_block=100, last_update=125, every=10, rate_limit=0
    )


def test_a_recorded_block_ahead_of_the_chain_does_not_block_weights_forever():
    assert weights_due(block=50, last_weight_block=9_000, last_update=0, every=10, rate_limit=0)


def query() -> checking.Query:
    return checking.Query(1, TARGET, BODY, REQUEST)


def reply(choice: wire.CompletionChoice) -> Reply:
    return completion_reply(TARGET, choice)


class PassAll:
    """A checker that verifies whatever it is given (judge_round's bookkeeping is under test)."""

    def __init__(self) -> None:
        self.claims: list = []

    def fits(self, request) -> bool:
        return True

    def check(self, claims):
        self.claims.extend(claims)
        return [Judgement(VERIFIED)] * len(claims)


def test_a_failed_call_scores_zero_without_reaching_the_verifier():
    checker = PassAll()
    failure = Failure(TARGET, FailureReason.TIMEOUT, "late", 5.0)
    [result] = judge_round([query()], [failure], checker)
    assert result.detail == "timeout" and not result.outcome.verified
    assert not result.answered and not result.proven_wrong
    assert checker.claims == []


def test_a_signed_answer_without_token_ids_is_proven_wrong():
    checker = PassAll()
    [result] = judge_round([query()], [reply(wire.CompletionChoice(text="ab"))], checker)
    assert result.detail.startswith("no_proof") and result.proven_wrong
    assert checker.claims == []


def test_an_answer_with_its_proof_goes_to_the_verifier():
    checker = PassAll()
    [result] = judge_round([query()], [reply(proven_choice())], checker)
    assert result.outcome == Outcome(True, 2, 0.5)
    assert checker.claims[0].item.token_ids == [97, 97]


class OutOfMemory(PassAll):
    def check(self, claims):
        raise ModelOutOfMemory("out of cuda memory verifying 1 completions", len(claims))


def test_an_answer_the_validator_ran_out_of_memory_on_is_left_out_not_failed():
    [result] = judge_round([query()], [reply(proven_choice())], OutOfMemory())
    assert result.left_out and result.detail.startswith(checking.UNVERIFIED)
    assert result.answered and not result.proven_wrong


class FakeVerifier:
    """verify_many's contract: one verdict per item, a malformed item failed on its own."""

    def __init__(self, verdicts: list[Verdict]) -> None:
        self.verdicts = verdicts
        self.calls: list[int] = []
        self.tokenizer = None

    def verify_many(self, items):
        self.calls.append(len(items))
        return self.verdicts


def test_a_malformed_answer_fails_alone_in_the_checkers_single_verify_many_call():
    ok = Verdict((), (1, 1, 1), (-0.1,) * 3, 0.0, 0.0, 1)
    verifier = FakeVerifier([Verdict.malformed("token id 999 is outside the vocabulary"), ok])
    checker = checking.VerifierChecker(verifier)
    checker.decode = decode
    reasons = checker.check([claim("abc"), claim("abc")])
    assert [r.detail for r in reasons] == [
        "malformed: token id 999 is outside the vocabulary",
        VERIFIED,
    ]
    assert verifier.calls == [2]


def result(uid: int, verified: bool, tokens: int, seconds: float | None, wrong=False) -> Result:
    outcome = Outcome(verified, tokens, seconds if verified else None)
    detail = VERIFIED if verified else ("not_greedy" if wrong else "timeout")
    return Result(uid, f"hk{uid}", outcome, detail, verified or wrong, wrong)


def test_a_miner_earns_only_when_every_answer_of_the_round_verifies():
    [combined] = per_miner([result(1, True, 10, 0.5), result(1, False, 0, None)])
    assert not combined.outcome.verified and combined.detail == "timeout"


def test_combined_throughput_is_all_tokens_over_the_slowest_answer():
    [combined] = per_miner([result(1, True, 10, 0.5), result(1, True, 30, 2.0)])
    assert combined.outcome.throughput == 40 / 2.0


def test_one_wrong_answer_marks_the_miner_proven_wrong():
    combined = per_miner([result(1, True, 10, 0.5), result(1, False, 5, None, wrong=True)])
    assert combined[0].proven_wrong


def test_a_timeout_alone_is_not_proof_of_a_wrong_answer():
    combined = per_miner([result(2, False, 0, None), result(2, True, 5, 0.2)])
    assert not combined[0].proven_wrong


def left_out(uid: int) -> Result:
    detail = f"{checking.UNVERIFIED}: out of memory"
    return Result(uid, f"hk{uid}", Outcome(False, 2, None), detail, True, False, left_out=True)


def test_a_miner_with_an_answer_left_out_and_none_failed_is_left_out():
    [combined] = per_miner([result(1, True, 10, 0.5), left_out(1)])
    assert combined.left_out and combined.detail.startswith(checking.UNVERIFIED)


def test_a_failed_answer_counts_even_beside_one_left_out():
    [combined] = per_miner([left_out(1), result(1, False, 0, None)])
    assert not combined.left_out and combined.detail == "timeout"


def claim(text: str, stop: tuple[str, ...] = ()) -> translate.Claim:
    request = GenerationRequest(prompt="p", max_tokens=8, stop=stop)
    item = VerifyItem(request, [1, 2, 3], [-0.1] * 3, "stop", Usage.of(1, 3))
    return translate.Claim(item, text)


def decode(ids) -> str:
    return "".join("abc"[i - 1] for i in ids)


def test_text_that_differs_from_the_verified_tokens_is_caught():
    assert translate.shown_text_matches(claim("abc"), decode)
    assert not translate.shown_text_matches(claim("xyz"), decode)


def test_text_ends_before_a_matched_stop_string():
    assert translate.shown_text_matches(claim("a", stop=("bc",)), decode)
