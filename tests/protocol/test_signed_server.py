"""The server adapter, in process: every attack is refused with the right status and a JSON
error, and the handler never runs for it; accepted requests get signed answers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import Depends
from protocol_support import (
    CALLERS,
    CHAT_BODY,
    CHAT_PATH,
    MID_VALIDATOR,
    MINER,
    MINER_URL,
    NO_PERMIT,
    POOR_VALIDATOR,
    RICH_VALIDATOR,
    STRANGER,
    STREAM_PATH,
    STREAMED_WORDS,
    TEXT_PATH,
    VALIDATOR,
    RecordingDirectory,
    RecordingHandler,
    build_app,
    independent_headers,
    limits,
)

from protocol import headers as h
from protocol.epistula import Verified, verify_response
from protocol.policy import CallerInfo, StaticDirectory
from protocol.refusals import Refused, RefusedError
from protocol.server import Authenticated, ServerLimits
from protocol.streaming import SignedStreamReader

BODY = json.dumps(CHAT_BODY).encode()
HOUR_MS = 3_600_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def signed_post(
    http: httpx.AsyncClient,
    body: bytes = BODY,
    *,
    path: str = CHAT_PATH,
    signer=VALIDATOR,
    signed_for: str = MINER.ss58_address,
    timestamp_ms: int | None = None,
    edit: Callable[[dict[str, str]], None] | None = None,
    sent_body: bytes | None = None,
):
    headers = independent_headers(body, signer, signed_for, timestamp_ms=timestamp_ms)
    if edit is not None:
        edit(headers)
    return http.post(path, content=body if sent_body is None else sent_body, headers=headers)


def assert_refused(
    response: httpx.Response, status: int, code: str, handler: RecordingHandler
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert handler.calls == [], "the handler ran for a refused request"
    return error


def assert_signed_for(response: httpx.Response, caller: str, request_uuid: str) -> None:
    verified = verify_response(
        response.headers,
        response.content,
        responder_hotkey=MINER.ss58_address,
        caller_hotkey=caller,
        request_uuid=request_uuid,
    )
    assert isinstance(verified, Verified), verified


async def test_independently_signed_request_is_served_with_a_signed_answer(
    http: httpx.AsyncClient, handler: RecordingHandler
) -> None:
    headers = independent_headers(BODY, VALIDATOR, MINER.ss58_address)
    response = await http.post(CHAT_PATH, content=BODY, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Say hello."
    [(request, caller)] = handler.calls
    assert request.max_tokens == 8
    assert (caller.hotkey, caller.stake) == (VALIDATOR.ss58_address, 1_000.0)
    # The answer verifies by the rule alone, bound to our request's uuid.
    signed = {name: response.headers[name] for name in h.EPISTULA_HEADERS}
    message = (
        f"{hashlib.sha256(response.content).hexdigest()}.{headers['Epistula-Uuid']}."
        f"{signed['Epistula-Timestamp']}.{VALIDATOR.ss58_address}"
    )
    signature = bytes.fromhex(signed["Epistula-Request-Signature"][2:])
    assert signed["Epistula-Signed-By"] == MINER.ss58_address
    assert signed["Epistula-Uuid"] == headers["Epistula-Uuid"]
    assert MINER.verify(message.encode(), signature)


def _drop(name: str) -> Callable[[dict[str, str]], None]:
    return lambda headers: headers.pop(name)


def _set(name: str, value: str) -> Callable[[dict[str, str]], None]:
    return lambda headers: headers.__setitem__(name, value)


def _forge(headers: dict[str, str]) -> None:
    forged = independent_headers(BODY, STRANGER, MINER.ss58_address)
    headers[h.SIGNATURE] = forged[h.SIGNATURE]


ATTACKS: dict[str, tuple[dict[str, Any], int, str]] = {
    "no_epistula_headers": ({"edit": lambda headers: headers.clear()}, 400, "missing_header"),
    "hole_missing_signature_header": ({"edit": _drop(h.SIGNATURE)}, 400, "missing_header"),
    "missing_signed_for": ({"edit": _drop(h.SIGNED_FOR)}, 400, "missing_header"),
    "malformed_timestamp": ({"edit": _set(h.TIMESTAMP, "yesterday")}, 400, "malformed_header"),
    "malformed_signature": ({"edit": _set(h.SIGNATURE, "0x1234")}, 400, "malformed_header"),
    "wrong_version": ({"edit": _set(h.VERSION, "1")}, 400, "unsupported_version"),
    "timestamp_too_old": ({"timestamp_ms": now_ms() - HOUR_MS}, 401, "timestamp_too_old"),
    "timestamp_in_future": ({"timestamp_ms": now_ms() + HOUR_MS}, 401, "timestamp_in_future"),
    "signed_for_another_hotkey": (
        {"signed_for": VALIDATOR.ss58_address},
        401,
        "signed_for_another_hotkey",
    ),
    "signature_by_another_key": ({"edit": _forge}, 401, "bad_signature"),
    "hole_body_changed_after_signing": (
        {"sent_body": BODY.replace(b"hello", b"HELLO")},
        401,
        "bad_signature",
    ),
    "hole_signer_hashed_one_serialisation_sent_another": (
        {"sent_body": json.dumps(CHAT_BODY, indent=1).encode()},
        401,
        "bad_signature",
    ),
    "signer_not_in_metagraph": ({"signer": STRANGER}, 403, "caller_not_registered"),
    "signer_without_validator_permit": (
        {"signer": NO_PERMIT},
        403,
        "caller_without_validator_permit",
    ),
    "signer_below_minimum_stake": ({"signer": POOR_VALIDATOR}, 403, "caller_stake_too_low"),
    "malformed_json": ({"body": b'{"model": "tiny", "messages": ['}, 400, "malformed_json"),
    "negative_max_tokens": (
        {"body": json.dumps({**CHAT_BODY, "max_tokens": -1}).encode()},
        422,
        "invalid_request",
    ),
    "unknown_role": (
        {"body": json.dumps({**CHAT_BODY, "messages": [{"role": "god", "content": "x"}]}).encode()},
        422,
        "invalid_request",
    ),
}


@pytest.mark.parametrize(("attack", "status", "code"), ATTACKS.values(), ids=ATTACKS.keys())
async def test_attack_is_refused_and_never_reaches_the_handler(
    http: httpx.AsyncClient,
    handler: RecordingHandler,
    attack: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = await signed_post(http, **attack)
    assert_refused(response, status, code, handler)


async def test_schema_error_says_which_field_is_wrong(
    http: httpx.AsyncClient, handler: RecordingHandler
) -> None:
    body = json.dumps({**CHAT_BODY, "max_tokens": -1}).encode()
    error = assert_refused(await signed_post(http, body), 422, "invalid_request", handler)
    assert "max_tokens" in error["message"]


async def test_hole_same_request_sent_twice_is_refused_as_a_replay(
    http: httpx.AsyncClient, handler: RecordingHandler
) -> None:
    headers = independent_headers(BODY, VALIDATOR, MINER.ss58_address)
    first = await http.post(CHAT_PATH, content=BODY, headers=headers)
    again = await http.post(CHAT_PATH, content=BODY, headers=headers)
    assert first.status_code == 200
    assert again.status_code == 401 and again.json()["error"]["code"] == "replayed_request"
    assert len(handler.calls) == 1


async def test_epistula_header_sent_twice_is_refused_before_any_lookup(
    http: httpx.AsyncClient, handler: RecordingHandler, directory: RecordingDirectory
) -> None:
    headers = independent_headers(BODY, VALIDATOR, MINER.ss58_address)
    pairs = [*headers.items(), (h.SIGNED_BY.lower(), STRANGER.ss58_address)]
    response = await http.post(CHAT_PATH, content=BODY, headers=pairs)
    error = assert_refused(response, 400, "malformed_header", handler)
    assert h.SIGNED_BY in error["message"]
    assert directory.lookups == []


async def test_hole_claimed_hotkey_is_not_looked_up_before_its_signature_verifies(
    http: httpx.AsyncClient, handler: RecordingHandler, directory: RecordingDirectory
) -> None:
    response = await signed_post(http, edit=_forge)  # claims VALIDATOR, signed by STRANGER
    assert_refused(response, 401, "bad_signature", handler)
    assert directory.lookups == []


async def test_signer_is_looked_up_once_its_signature_verified(
    http: httpx.AsyncClient, directory: RecordingDirectory
) -> None:
    assert (await signed_post(http)).status_code == 200
    assert directory.lookups == [VALIDATOR.ss58_address]


async def test_refusal_before_authentication_is_unsigned(
    http: httpx.AsyncClient, handler: RecordingHandler
) -> None:
    response = await signed_post(http, edit=_forge)
    assert not any(name in response.headers for name in h.EPISTULA_HEADERS)


async def test_refusal_of_an_authenticated_caller_is_signed_for_it(
    http: httpx.AsyncClient, handler: RecordingHandler
) -> None:
    headers = independent_headers(BODY, NO_PERMIT, MINER.ss58_address)
    response = await http.post(CHAT_PATH, content=BODY, headers=headers)
    assert_refused(response, 403, "caller_without_validator_permit", handler)
    assert_signed_for(response, NO_PERMIT.ss58_address, headers[h.UUID])


def chunks_of(body: bytes, size: int, counter: list[int]) -> AsyncIterator[bytes]:
    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), size):
            counter.append(start)
            yield body[start : start + size]

    return stream()


@pytest.fixture
def small_http(handler: RecordingHandler) -> httpx.AsyncClient:
    app = build_app(handler, limits=ServerLimits(max_body_bytes=512))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=MINER_URL)


async def test_body_over_the_declared_limit_is_refused_413(
    small_http: httpx.AsyncClient, handler: RecordingHandler
) -> None:
    body = json.dumps({**CHAT_BODY, "user": "x" * 2_000}).encode()
    response = await signed_post(small_http, body)
    error = assert_refused(response, 413, "body_too_large", handler)
    assert "512" in error["message"]


async def test_streamed_body_over_the_limit_is_refused_while_reading(
    small_http: httpx.AsyncClient, handler: RecordingHandler
) -> None:
    body = json.dumps({**CHAT_BODY, "user": "x" * 10_000}).encode()
    headers = independent_headers(body, VALIDATOR, MINER.ss58_address)
    sent: list[int] = []
    response = await small_http.post(CHAT_PATH, content=chunks_of(body, 256, sent), headers=headers)
    assert_refused(response, 413, "body_too_large", handler)
    assert len(sent) < len(body) // 256, "the server read the whole body before refusing it"


async def test_saturated_server_answers_429_with_retry_after(handler: RecordingHandler) -> None:
    handler.gate = asyncio.Event()
    app = build_app(handler, limits=limits(max_concurrent=1, max_queue=0, retry_after_s=2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=MINER_URL) as http:
        first = asyncio.create_task(signed_post(http))
        while not handler.calls:
            await asyncio.sleep(0.001)
        headers = independent_headers(BODY, VALIDATOR, MINER.ss58_address)
        busy = await http.post(CHAT_PATH, content=BODY, headers=headers)
        handler.gate.set()
        assert (await first).status_code == 200
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "2"
    assert busy.json()["error"]["code"] == "queue_full"
    assert len(handler.calls) == 1
    assert_signed_for(busy, VALIDATOR.ss58_address, headers[h.UUID])


async def test_hole_stake_orders_queued_requests_end_to_end(handler: RecordingHandler) -> None:
    handler.gate = asyncio.Event()
    app = build_app(handler, limits=limits(max_concurrent=1, max_queue=8))
    admission = app.state.protocol.admission
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=MINER_URL) as http:
        tasks = [asyncio.create_task(signed_post(http))]
        while not handler.calls:
            await asyncio.sleep(0.001)
        for signer in (VALIDATOR, RICH_VALIDATOR, MID_VALIDATOR):
            tasks.append(asyncio.create_task(signed_post(http, signer=signer)))
            while admission.queued < len(tasks) - 1:
                await asyncio.sleep(0.001)
        handler.gate.set()
        statuses = [(await task).status_code for task in tasks]
    assert statuses == [200] * 4
    served = [caller.hotkey for _, caller in handler.calls]
    expected = [VALIDATOR, RICH_VALIDATOR, MID_VALIDATOR, VALIDATOR]
    assert served == [key.ss58_address for key in expected]
    assert admission.running == 0


async def test_full_replay_cache_refuses_503_instead_of_forgetting(
    handler: RecordingHandler,
) -> None:
    app = build_app(handler, limits=ServerLimits(seen_capacity=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=MINER_URL) as http:
        assert (await signed_post(http)).status_code == 200
        handler.calls.clear()
        response = await signed_post(http)
    assert_refused(response, 503, "replay_cache_full", handler)
    assert int(response.headers["Retry-After"]) >= 1


async def test_callers_refused_by_the_policy_cannot_fill_the_replay_cache(
    handler: RecordingHandler,
) -> None:
    app = build_app(handler, limits=ServerLimits(seen_capacity=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=MINER_URL) as http:
        for _ in range(3):
            refused = await signed_post(http, signer=STRANGER)
            assert refused.json()["error"]["code"] == "caller_not_registered"
        assert (await signed_post(http)).status_code == 200
    assert len(app.state.protocol.seen) == 1


async def test_unknown_path_and_wrong_method_get_json_errors(
    http: httpx.AsyncClient, handler: RecordingHandler
) -> None:
    assert_refused(await signed_post(http, path="/v1/nothing"), 404, "not_found", handler)
    assert_refused(await http.get(CHAT_PATH), 405, "method_not_allowed", handler)


async def test_handler_failure_is_a_signed_500_that_leaks_nothing(
    handler: RecordingHandler,
) -> None:
    async def explode(request: Any, caller: Any) -> Any:
        raise RuntimeError("secret internals")

    handler.chat = explode  # type: ignore[method-assign]
    app = build_app(handler)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=MINER_URL) as http:
        headers = independent_headers(BODY, VALIDATOR, MINER.ss58_address)
        response = await http.post(CHAT_PATH, content=BODY, headers=headers)
    assert response.status_code == 500 and response.json()["error"]["code"] == "handler_error"
    assert "secret" not in response.text
    assert_signed_for(response, VALIDATOR.ss58_address, headers[h.UUID])
    assert app.state.protocol.admission.running == 0


async def test_handler_refusal_keeps_its_own_status_and_code(handler: RecordingHandler) -> None:
    async def no_such_model(request: Any, caller: Any) -> Any:
        raise RefusedError(Refused("model_not_found", 404, "this miner serves tiny only"))

    handler.chat = no_such_model  # type: ignore[method-assign]
    app = build_app(handler)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=MINER_URL) as http:
        response = await signed_post(http)
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "model_not_found", "message": "this miner serves tiny only"}
    }


async def test_text_completion_route_validates_its_own_schema(
    http: httpx.AsyncClient, handler: RecordingHandler
) -> None:
    body = json.dumps({"model": "tiny", "prompt": "Once", "max_tokens": 4}).encode()
    response = await signed_post(http, body, path=TEXT_PATH)
    assert response.status_code == 200 and response.json()["choices"][0]["text"] == "Once"
    handler.calls.clear()
    response = await signed_post(http, BODY, path=TEXT_PATH)  # a chat body is no text request
    assert_refused(response, 422, "invalid_request", handler)


async def test_swapping_the_directory_takes_effect_on_the_next_request(
    app: Any, http: httpx.AsyncClient, handler: RecordingHandler
) -> None:
    assert_refused(await signed_post(http, signer=STRANGER), 403, "caller_not_registered", handler)
    app.state.protocol.directory = StaticDirectory(
        {**CALLERS, STRANGER.ss58_address: CallerInfo(uid=9, stake=1e6, validator_permit=True)}
    )
    assert (await signed_post(http, signer=STRANGER)).status_code == 200


# ---------------------------------------------------------------------------- streams


async def test_stream_ends_with_a_trailer_that_signs_every_byte_before_it(
    http: httpx.AsyncClient,
) -> None:
    headers = independent_headers(BODY, VALIDATOR, MINER.ss58_address)
    response = await http.post(STREAM_PATH, content=BODY, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    raw = response.content
    cut = raw.index(b"event: epistula-signature\n")
    streamed, trailer_event = raw[:cut], raw[cut:]
    assert streamed.endswith(b"data: [DONE]\n\n")
    trailer = json.loads(trailer_event.split(b"data: ", 1)[1])
    message = (
        f"{hashlib.sha256(streamed).hexdigest()}.{headers[h.UUID]}."
        f"{trailer[h.TIMESTAMP]}.{VALIDATOR.ss58_address}"
    )
    assert trailer[h.UUID] == headers[h.UUID]
    assert MINER.verify(message.encode(), bytes.fromhex(trailer[h.SIGNATURE][2:]))
    reader = SignedStreamReader()
    payloads = reader.feed(raw)
    reader.finish()
    words = [json.loads(p)["choices"][0]["delta"]["content"] for p in payloads[:-1]]
    assert tuple(words) == STREAMED_WORDS and payloads[-1] == "[DONE]"


async def test_stream_failing_midway_ends_with_a_signed_error_event(
    handler: RecordingHandler,
) -> None:
    async def breaks(request: Any, caller: Any) -> AsyncIterator[Any]:
        async for chunk in RecordingHandler().stream(request, caller):
            yield chunk
            raise RuntimeError("engine fell over")

    handler.stream = breaks  # type: ignore[method-assign]
    app = build_app(handler)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=MINER_URL) as http:
        headers = independent_headers(BODY, VALIDATOR, MINER.ss58_address)
        response = await http.post(STREAM_PATH, content=BODY, headers=headers)
    reader = SignedStreamReader()
    payloads = reader.feed(response.content)
    reader.finish()
    assert json.loads(payloads[1])["error"]["code"] == "handler_error"
    assert "fell over" not in response.text
    verified = verify_response(
        reader.trailer or {},
        reader.digest,
        responder_hotkey=MINER.ss58_address,
        caller_hotkey=VALIDATOR.ss58_address,
        request_uuid=headers[h.UUID],
    )
    assert isinstance(verified, Verified)
    assert app.state.protocol.admission.running == 0


async def test_epistula_guard_works_as_a_fastapi_dependency(
    app: Any, http: httpx.AsyncClient
) -> None:
    @app.post("/whoami")
    async def whoami(auth: Authenticated = Depends(app.state.guard)) -> dict[str, Any]:  # noqa: B008
        return {"hotkey": auth.caller.hotkey, "bytes": len(auth.body)}

    assert (await signed_post(http, path="/whoami")).json() == {
        "hotkey": VALIDATOR.ss58_address,
        "bytes": len(BODY),
    }
    refused = await signed_post(http, path="/whoami", edit=_forge)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "bad_signature"
