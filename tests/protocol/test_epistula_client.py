"""The client adapter: the auth hook signs the bytes sent; a call returns a verified Reply or a
typed Failure; streams are checked against their trailer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from protocol_support import (
    CHAT_BODY,
    CHAT_PATH,
    MINER,
    MINER_URL,
    STRANGER,
    STREAM_PATH,
    STREAMED_WORDS,
    VALIDATOR,
    echo_text,
)

from protocol import headers as h
from protocol.client import (
    EpistulaAuth,
    EpistulaClient,
    Failure,
    FailureReason,
    Reply,
    StreamReply,
    Target,
    successes,
)
from protocol.epistula import Verified, sign_response, verify_response
from protocol.schemas import ChatCompletion, ChatCompletionChunk
from protocol.streaming import DONE_EVENT, StreamHasher, encode_event, encode_trailer

TARGET = Target(MINER.ss58_address, MINER_URL)
ANSWER = echo_text("Say hello.").model_dump_json().encode()


def asgi_client(app: Any, keypair=VALIDATOR, **options: Any) -> EpistulaClient:
    return EpistulaClient(keypair, transport=httpx.ASGITransport(app), **options)


def mock_miner(
    respond: Callable[[httpx.Request], tuple[int, bytes, dict[str, str]]],
) -> EpistulaClient:
    """A client whose every request is answered by `respond(request)`."""

    def handle(request: httpx.Request) -> httpx.Response:
        status, body, headers = respond(request)
        return httpx.Response(status, content=body, headers=headers)

    return EpistulaClient(VALIDATOR, transport=httpx.MockTransport(handle))


def signed_answer(
    body: bytes = ANSWER, signer=MINER, *, uuid: str | None = None
) -> Callable[[httpx.Request], tuple[int, bytes, dict[str, str]]]:
    def respond(request: httpx.Request) -> tuple[int, bytes, dict[str, str]]:
        headers = sign_response(
            body,
            signer,
            caller_hotkey=request.headers[h.SIGNED_BY],
            request_uuid=uuid or request.headers[h.UUID],
            now_ms=1,
        )
        return 200, body, {**headers, "content-type": "application/json"}

    return respond


async def call(client: EpistulaClient, **options: Any) -> Reply | Failure:
    async with client:
        return await client.call(
            TARGET, CHAT_PATH, CHAT_BODY, response_model=ChatCompletion, **options
        )


def failure(outcome: Reply | Failure, reason: FailureReason) -> Failure:
    assert isinstance(outcome, Failure), outcome
    assert outcome.reason == reason, outcome
    return outcome


# ---------------------------------------------------------------------------- the auth hook


async def test_hole_auth_hook_signs_the_exact_bytes_httpx_sends() -> None:
    captured: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(204)

    auth = EpistulaAuth(VALIDATOR, signed_for=MINER.ss58_address)
    async with httpx.AsyncClient(transport=httpx.MockTransport(capture), auth=auth) as http:
        await http.post("http://miner.test/x", json={"b": 1, "a": [1, 2]})
    [request] = captured
    sent = request.read()
    message = (
        f"{hashlib.sha256(sent).hexdigest()}.{request.headers[h.UUID]}."
        f"{request.headers[h.TIMESTAMP]}.{MINER.ss58_address}"
    )
    signature = bytes.fromhex(request.headers[h.SIGNATURE][2:])
    assert VALIDATOR.verify(message.encode(), signature)
    assert auth.last_signed[h.UUID] == request.headers[h.UUID]


async def test_auth_hook_signs_for_the_receiver_named_in_the_request(app: Any) -> None:
    auth = EpistulaAuth(VALIDATOR)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url=MINER_URL, auth=auth) as http:
        response = await http.post(
            CHAT_PATH, json=CHAT_BODY, headers={h.SIGNED_FOR: MINER.ss58_address}
        )
    assert response.status_code == 200, response.text


async def test_auth_hook_without_a_receiver_says_how_to_name_one() -> None:
    async with httpx.AsyncClient(auth=EpistulaAuth(VALIDATOR)) as http:
        with pytest.raises(ValueError, match="signed_for"):
            await http.post("http://miner.test/x", content=b"{}")


# ---------------------------------------------------------------------------- calls


async def test_call_returns_the_verified_reply_with_its_proof_and_timings(app: Any) -> None:
    reply = await call(asgi_client(app))
    assert isinstance(reply, Reply), reply
    assert reply.parsed.choices[0].message.content == "Say hello."
    assert 0 < reply.ttfb_s <= reply.latency_s
    proof = verify_response(
        reply.headers,
        reply.body,
        responder_hotkey=MINER.ss58_address,
        caller_hotkey=VALIDATOR.ss58_address,
        request_uuid=reply.headers[h.UUID],
    )
    assert isinstance(proof, Verified)


async def test_refused_call_is_a_bad_status_failure_carrying_the_error_body(app: Any) -> None:
    outcome = failure(await call(asgi_client(app, STRANGER)), FailureReason.BAD_STATUS)
    assert outcome.status == 403
    assert outcome.error is not None and outcome.error.code == "caller_not_registered"


async def test_a_refusal_the_miner_signed_gives_its_reason(app: Any) -> None:
    outcome = failure(await call(asgi_client(app, STRANGER)), FailureReason.BAD_STATUS)
    assert outcome.signed and outcome.refusal == "caller_not_registered"


async def test_an_unsigned_refusal_gives_no_reason() -> None:
    body = b'{"error":{"code":"caller_stake_too_low","message":"stake more"}}'
    outcome = await call(mock_miner(lambda request: (403, body, {})))
    refused = failure(outcome, FailureReason.BAD_STATUS)
    assert refused.error is not None and refused.error.code == "caller_stake_too_low"
    assert not refused.signed and refused.refusal is None


async def test_a_refusal_signed_by_another_hotkey_gives_no_reason() -> None:
    body = b'{"error":{"code":"caller_stake_too_low","message":"stake more"}}'
    sign = signed_answer(body, signer=STRANGER)

    def refuse(request: httpx.Request) -> tuple[int, bytes, dict[str, str]]:
        _, signed_body, headers = sign(request)
        return 403, signed_body, headers

    outcome = failure(await call(mock_miner(refuse)), FailureReason.BAD_STATUS)
    assert outcome.refusal is None


async def test_forged_response_signature_is_a_bad_signature_failure() -> None:
    outcome = await call(mock_miner(signed_answer(signer=STRANGER)))
    assert "not by the hotkey called" in failure(outcome, FailureReason.BAD_SIGNATURE).message


async def test_response_changed_after_signing_is_a_bad_signature_failure() -> None:
    sign = signed_answer()

    def tamper(request: httpx.Request) -> tuple[int, bytes, dict[str, str]]:
        status, body, headers = sign(request)
        return status, body.replace(b"hello", b"HELLO"), headers

    failure(await call(mock_miner(tamper)), FailureReason.BAD_SIGNATURE)


async def test_old_signed_answer_replayed_for_a_new_request_is_refused() -> None:
    replay = signed_answer(uuid="0b3d4f1e-6a2c-4d5e-9f10-1a2b3c4d5e6f")
    outcome = failure(await call(mock_miner(replay)), FailureReason.BAD_SIGNATURE)
    assert "bound to request" in outcome.message


async def test_unsigned_answer_is_a_bad_signature_failure() -> None:
    outcome = await call(mock_miner(lambda request: (200, ANSWER, {})))
    assert "missing" in failure(outcome, FailureReason.BAD_SIGNATURE).message


async def test_answer_carrying_an_epistula_header_twice_is_a_bad_signature_failure() -> None:
    answer = signed_answer()

    def handle(request: httpx.Request) -> httpx.Response:
        status, body, headers = answer(request)
        duplicated = [*headers.items(), (h.SIGNED_BY, STRANGER.ss58_address)]
        return httpx.Response(status, content=body, headers=duplicated)

    client = EpistulaClient(VALIDATOR, transport=httpx.MockTransport(handle))
    outcome = failure(await call(client), FailureReason.BAD_SIGNATURE)
    assert h.SIGNED_BY in outcome.message and "more than once" in outcome.message


async def test_signed_answer_that_breaks_the_schema_is_an_invalid_schema_failure() -> None:
    outcome = await call(mock_miner(signed_answer(b'{"id": "x"}')))
    failure(outcome, FailureReason.INVALID_SCHEMA)


async def test_answer_over_the_size_limit_is_refused() -> None:
    client = mock_miner(signed_answer())
    client.max_response_bytes = 64
    failure(await call(client), FailureReason.RESPONSE_TOO_LARGE)


async def test_fan_out_gives_one_outcome_per_target_in_order(app: Any) -> None:
    targets = [TARGET, Target(STRANGER.ss58_address, MINER_URL), TARGET]
    async with asgi_client(app) as client:
        outcomes = await client.fan_out(
            targets, CHAT_PATH, CHAT_BODY, response_model=ChatCompletion
        )
    assert [o.target for o in outcomes] == targets
    assert isinstance(outcomes[0], Reply) and isinstance(outcomes[2], Reply)
    wrong = failure(outcomes[1], FailureReason.BAD_STATUS)
    assert wrong.error is not None and wrong.error.code == "signed_for_another_hotkey"
    assert successes(outcomes) == [outcomes[0], outcomes[2]]


async def test_fan_out_signs_each_request_with_its_own_uuid(app: Any) -> None:
    async with asgi_client(app) as client:
        outcomes = await client.fan_out(
            [TARGET] * 3, CHAT_PATH, CHAT_BODY, response_model=ChatCompletion
        )
    uuids = {o.headers[h.UUID] for o in successes(outcomes)}
    assert len(uuids) == 3


async def test_per_target_pools_are_bounded(app: Any) -> None:
    async with asgi_client(app, max_targets=2) as client:
        for host in ("a", "b", "c"):
            await client.call(
                Target(MINER.ss58_address, f"http://{host}.test"),
                CHAT_PATH,
                CHAT_BODY,
                response_model=ChatCompletion,
            )
        assert list(client._pools) == ["http://b.test", "http://c.test"]


def test_target_at_brackets_ipv6_hosts() -> None:
    assert Target.at("k", "10.0.0.5", 8091).url == "http://10.0.0.5:8091"
    assert Target.at("k", "::1", 8091).url == "http://[::1]:8091"


# ---------------------------------------------------------------------------- streams


async def stream(client: EpistulaClient, **options: Any) -> StreamReply | Failure:
    async with client:
        return await client.stream(
            TARGET, STREAM_PATH, CHAT_BODY, chunk_model=ChatCompletionChunk, **options
        )


async def test_stream_returns_verified_chunks_and_shows_each_as_it_arrives(app: Any) -> None:
    seen: list[str] = []
    reply = await stream(
        asgi_client(app), on_chunk=lambda c: seen.append(c.choices[0].delta.content)
    )
    assert isinstance(reply, StreamReply), reply
    assert tuple(seen) == STREAMED_WORDS
    assert [c.choices[0].delta.content for c in reply.chunks] == list(STREAMED_WORDS)
    assert reply.trailer[h.SIGNED_BY] == MINER.ss58_address
    assert reply.first_chunk_s is not None and reply.first_chunk_s <= reply.latency_s


def stream_answer(events: list[bytes], *, sign: bool = True, after: bytes = b""):
    """A miner that streams `events` (then [DONE]) and, if `sign`, a valid trailer."""

    def respond(request: httpx.Request) -> tuple[int, bytes, dict[str, str]]:
        hasher = StreamHasher()
        body = b"".join(hasher.add(event) for event in [*events, DONE_EVENT])
        if sign:
            body += encode_trailer(
                sign_response(
                    hasher.digest(),
                    MINER,
                    caller_hotkey=VALIDATOR.ss58_address,
                    request_uuid=request.headers[h.UUID],
                    now_ms=1,
                )
            )
        return 200, body + after, {"content-type": "text/event-stream"}

    return respond


CHUNK = encode_event(
    b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"tiny",'
    b'"choices":[{"index":0,"delta":{"content":"Hi"}}]}'
)


async def test_well_signed_mock_stream_is_accepted() -> None:
    reply = await stream(mock_miner(stream_answer([CHUNK])))
    assert isinstance(reply, StreamReply) and reply.chunks[0].choices[0].delta.content == "Hi"


async def test_stream_with_a_changed_byte_is_a_bad_signature_failure() -> None:
    honest = stream_answer([CHUNK])

    def tamper(request: httpx.Request) -> tuple[int, bytes, dict[str, str]]:
        status, body, headers = honest(request)
        return status, body.replace(b'"Hi"', b'"Yo"'), headers

    failure(await stream(mock_miner(tamper)), FailureReason.BAD_SIGNATURE)


async def test_stream_without_its_trailer_is_a_bad_signature_failure() -> None:
    outcome = await stream(mock_miner(stream_answer([CHUNK], sign=False)))
    assert "without its signature trailer" in failure(outcome, FailureReason.BAD_SIGNATURE).message


async def test_data_after_the_trailer_is_a_bad_signature_failure() -> None:
    outcome = await stream(mock_miner(stream_answer([CHUNK], after=CHUNK)))
    assert "after the signature trailer" in failure(outcome, FailureReason.BAD_SIGNATURE).message


async def test_signed_error_event_is_a_stream_error_failure() -> None:
    error = encode_event(
        json.dumps({"error": {"code": "handler_error", "message": "boom"}}).encode()
    )
    outcome = failure(
        await stream(mock_miner(stream_answer([CHUNK, error]))), FailureReason.STREAM_ERROR
    )
    assert outcome.error is not None and outcome.error.code == "handler_error"


async def test_stream_chunk_that_breaks_the_schema_is_an_invalid_schema_failure() -> None:
    outcome = await stream(mock_miner(stream_answer([encode_event(b'{"id": 1}')])))
    failure(outcome, FailureReason.INVALID_SCHEMA)


async def test_json_answer_where_a_stream_was_expected_is_refused() -> None:
    outcome = await stream(mock_miner(signed_answer()))
    assert "event stream" in failure(outcome, FailureReason.INVALID_SCHEMA).message
