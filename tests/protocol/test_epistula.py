"""The pure Epistula core: the signed message, each refusal, the replay cache, responses."""

from __future__ import annotations

import hashlib
import uuid as uuidlib

import pytest
from protocol_support import MINER, STRANGER, VALIDATOR, independent_headers

from protocol import headers as h
from protocol.epistula import (
    BodyDigest,
    SeenRequests,
    Verified,
    message_to_sign,
    new_uuid,
    parse_headers,
    parse_raw_headers,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)
from protocol.refusals import Reason, Refused

NOW = 1_700_000_000_000
WINDOW = 10_000
BODY = b'{"model":"tiny","messages":[{"role":"user","content":"hi"}]}'
UUID = "0b3d4f1e-6a2c-4d5e-9f10-1a2b3c4d5e6f"


def verify(headers: dict[str, str], body: bytes = BODY, *, now_ms: int = NOW, seen=None):
    return verify_request(
        headers,
        body,
        receiver_hotkey=MINER.ss58_address,
        now_ms=now_ms,
        seen=seen if seen is not None else SeenRequests(),
        window_ms=WINDOW,
    )


def signed(**overrides: str) -> dict[str, str]:
    headers = sign_request(BODY, VALIDATOR, MINER.ss58_address, now_ms=NOW, uuid=UUID)
    headers.update(overrides)
    return headers


def refusal_code(result: Verified | Refused) -> str:
    assert isinstance(result, Refused), result
    return result.code


def test_message_to_sign_is_the_design_rule() -> None:
    expected = f"{hashlib.sha256(BODY).hexdigest()}.{UUID}.{NOW}.{MINER.ss58_address}".encode()
    assert message_to_sign(BODY, UUID, NOW, MINER.ss58_address) == expected


def test_signed_request_verifies_and_names_its_signer() -> None:
    result = verify(signed())
    assert result == Verified(VALIDATOR.ss58_address, MINER.ss58_address, UUID, NOW)


def test_request_signed_by_an_independent_implementation_is_accepted() -> None:
    headers = independent_headers(BODY, VALIDATOR, MINER.ss58_address, timestamp_ms=NOW)
    assert isinstance(verify(headers), Verified)


def test_our_signature_verifies_with_the_bare_keypair() -> None:
    headers = signed()
    message = f"{hashlib.sha256(BODY).hexdigest()}.{UUID}.{NOW}.{MINER.ss58_address}".encode()
    signature = bytes.fromhex(headers[h.SIGNATURE].removeprefix("0x"))
    assert VALIDATOR.verify(message, signature)


def test_header_names_are_matched_case_insensitively() -> None:
    lowered = {name.lower(): value for name, value in signed().items()}
    assert isinstance(verify(lowered), Verified)


@pytest.mark.parametrize("missing", h.EPISTULA_HEADERS)
def test_each_missing_header_is_refused_with_its_name(missing: str) -> None:
    headers = signed()
    del headers[missing]
    result = verify(headers)
    assert refusal_code(result) == Reason.MISSING_HEADER
    assert isinstance(result, Refused) and missing in result.message and result.status == 400


def test_hole_missing_signature_header_is_refused_not_skipped() -> None:
    headers = signed()
    del headers[h.SIGNATURE]
    assert refusal_code(verify(headers)) == Reason.MISSING_HEADER


def test_duplicate_header_is_refused() -> None:
    pairs = [*signed().items(), (h.SIGNED_BY.lower(), STRANGER.ss58_address)]

    class Pairs(dict):
        def items(self):  # a mapping that, like raw HTTP headers, can repeat a name
            return pairs

    assert refusal_code(verify(Pairs())) == Reason.MALFORMED_HEADER


def test_wrong_version_is_refused() -> None:
    result = verify(signed(**{h.VERSION: "1"}))
    assert refusal_code(result) == Reason.UNSUPPORTED_VERSION
    assert isinstance(result, Refused) and result.status == 400


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (h.TIMESTAMP, "soon"),
        (h.TIMESTAMP, "01700000000000"),  # a second spelling of the same number
        (h.TIMESTAMP, "1_700_000_000_000"),
        (h.TIMESTAMP, " 1700000000000"),
        (h.UUID, "not-a-uuid"),
        (h.SIGNED_BY, "5NotAnAddressAtAll"),
        (h.SIGNED_BY, VALIDATOR.ss58_address[:-1] + "Z"),  # bad checksum
        (h.SIGNED_FOR, "miner"),
        (h.SIGNATURE, "deadbeef"),
        (h.SIGNATURE, "0x" + "zz" * 64),
    ],
)
def test_malformed_header_is_refused_naming_the_header(name: str, value: str) -> None:
    result = verify(signed(**{name: value}))
    assert refusal_code(result) == Reason.MALFORMED_HEADER
    assert isinstance(result, Refused) and name in result.message


def test_timestamp_at_the_edges_of_the_window_is_accepted() -> None:
    assert isinstance(verify(signed(), now_ms=NOW + WINDOW), Verified)
    assert isinstance(verify(signed(), now_ms=NOW - WINDOW), Verified)


def test_timestamp_too_old_is_refused() -> None:
    result = verify(signed(), now_ms=NOW + WINDOW + 1)
    assert refusal_code(result) == Reason.TIMESTAMP_TOO_OLD
    assert isinstance(result, Refused) and result.status == 401


def test_timestamp_too_far_in_the_future_is_refused() -> None:
    result = verify(signed(), now_ms=NOW - WINDOW - 1)
    assert refusal_code(result) == Reason.TIMESTAMP_IN_FUTURE


def test_request_signed_for_another_hotkey_is_refused() -> None:
    headers = sign_request(BODY, VALIDATOR, STRANGER.ss58_address, now_ms=NOW)
    assert refusal_code(verify(headers)) == Reason.WRONG_RECEIVER


def test_signature_by_another_key_is_refused() -> None:
    forged = sign_request(BODY, STRANGER, MINER.ss58_address, now_ms=NOW, uuid=UUID)
    headers = signed(**{h.SIGNATURE: forged[h.SIGNATURE]})
    assert refusal_code(verify(headers)) == Reason.BAD_SIGNATURE


@pytest.mark.parametrize(
    "changed",
    [
        BODY.replace(b"hi", b"ho"),
        BODY.replace(b":", b": ", 1),  # same JSON value, different bytes
        BODY + b"\n",
        b"",
    ],
)
def test_hole_body_hash_covers_every_byte_of_the_body(changed: bytes) -> None:
    assert refusal_code(verify(signed(), changed)) == Reason.BAD_SIGNATURE


def test_tampered_uuid_or_timestamp_breaks_the_signature() -> None:
    other_uuid = "1b3d4f1e-6a2c-4d5e-9f10-1a2b3c4d5e6f"
    assert refusal_code(verify(signed(**{h.UUID: other_uuid}))) == Reason.BAD_SIGNATURE
    assert refusal_code(verify(signed(**{h.TIMESTAMP: str(NOW + 1)}))) == Reason.BAD_SIGNATURE


def test_hole_replayed_request_is_refused() -> None:
    seen = SeenRequests()
    assert isinstance(verify(signed(), seen=seen), Verified)
    assert refusal_code(verify(signed(), seen=seen, now_ms=NOW + 1)) == Reason.REPLAYED_REQUEST


def test_refused_request_does_not_burn_its_uuid() -> None:
    seen = SeenRequests()
    assert refusal_code(verify(signed(), b"tampered", seen=seen)) == Reason.BAD_SIGNATURE
    assert isinstance(verify(signed(), seen=seen), Verified)


def test_same_uuid_from_another_signer_is_not_a_replay() -> None:
    seen = SeenRequests()
    mine = sign_request(BODY, VALIDATOR, MINER.ss58_address, now_ms=NOW, uuid=UUID)
    theirs = sign_request(BODY, STRANGER, MINER.ss58_address, now_ms=NOW, uuid=UUID)
    assert isinstance(verify(theirs, seen=seen), Verified)
    assert isinstance(verify(mine, seen=seen), Verified)


def test_seen_entry_lives_until_its_timestamp_leaves_the_window() -> None:
    seen = SeenRequests()
    seen.check_and_record("a", UUID, expires_at_ms=NOW + WINDOW, now_ms=NOW)
    seen.purge(NOW + WINDOW)
    assert ("a", UUID) in seen
    seen.purge(NOW + WINDOW + 1)
    assert ("a", UUID) not in seen and len(seen) == 0


def test_full_seen_cache_refuses_rather_than_forgetting_unexpired_ids() -> None:
    seen = SeenRequests(capacity=2)
    for signer in ("a", "b"):
        assert seen.check_and_record(signer, UUID, expires_at_ms=NOW + 5_000, now_ms=NOW) is None
    refused = seen.check_and_record("c", UUID, expires_at_ms=NOW + 5_000, now_ms=NOW + 1)
    assert isinstance(refused, Refused) and refused.code == Reason.REPLAY_CACHE_FULL
    assert refused.status == 503 and refused.retry_after_s == 5
    assert ("a", UUID) in seen and ("b", UUID) in seen
    replay = seen.check_and_record("a", UUID, expires_at_ms=NOW + 5_000, now_ms=NOW + 2)
    assert isinstance(replay, Refused) and replay.code == Reason.REPLAYED_REQUEST


def test_full_seen_cache_makes_room_by_dropping_expired_ids() -> None:
    seen = SeenRequests(capacity=1)
    seen.check_and_record("a", UUID, expires_at_ms=NOW, now_ms=NOW)
    assert seen.check_and_record("b", UUID, expires_at_ms=NOW + 9, now_ms=NOW + 1) is None
    assert ("a", UUID) not in seen


def test_seen_cache_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SeenRequests(capacity=0)


def test_parse_headers_returns_the_typed_fields() -> None:
    parsed = parse_headers(signed())
    assert not isinstance(parsed, Refused)
    assert (parsed.timestamp_ms, parsed.uuid, parsed.signed_by) == (
        NOW,
        UUID,
        VALIDATOR.ss58_address,
    )
    assert len(parsed.signature) == 64


def raw_pairs(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as an ASGI server hands them over: lowercased names, raw bytes."""
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


def test_raw_header_pairs_parse_as_the_mapping_does() -> None:
    headers = signed()  # sr25519 signatures are randomised: sign once
    pairs = [(b"host", b"miner.test"), *raw_pairs(headers), (b"content-length", b"60")]
    assert parse_raw_headers(pairs) == parse_headers(headers)


def test_raw_header_names_are_matched_case_insensitively() -> None:
    headers = signed()
    pairs = [(name.upper().encode(), value.encode()) for name, value in headers.items()]
    assert parse_raw_headers(pairs) == parse_headers(headers)


def test_raw_header_sent_twice_is_refused_whatever_its_case() -> None:
    pairs = [*raw_pairs(signed()), (h.SIGNED_BY.upper().encode(), STRANGER.ss58_address.encode())]
    result = parse_raw_headers(pairs)
    assert refusal_code(result) == Reason.MALFORMED_HEADER  # type: ignore[arg-type]
    assert isinstance(result, Refused) and h.SIGNED_BY in result.message


def test_missing_raw_header_is_refused_with_its_name() -> None:
    pairs = [pair for pair in raw_pairs(signed()) if pair[0] != h.UUID.lower().encode()]
    result = parse_raw_headers(pairs)
    assert isinstance(result, Refused) and result.code == Reason.MISSING_HEADER
    assert h.UUID in result.message


def test_new_uuid_is_a_canonical_version_4_uuid() -> None:
    value = new_uuid()
    parsed = uuidlib.UUID(value)
    assert str(parsed) == value
    assert parsed.version == 4 and parsed.variant == uuidlib.RFC_4122


def test_new_uuid_draws_fresh_random_bits_each_time() -> None:
    values = [new_uuid() for _ in range(200)]
    assert len(set(values)) == len(values)
    # The variant digit carries two random bits: all four of its values turn up.
    assert {value[19] for value in values} == set("89ab")


# ---------------------------------------------------------------------------- responses

RESPONSE = b'{"id":"x","choices":[]}'


def response_headers(body: bytes = RESPONSE) -> dict[str, str]:
    return sign_response(
        body, MINER, caller_hotkey=VALIDATOR.ss58_address, request_uuid=UUID, now_ms=NOW + 5
    )


def check_response(headers: dict[str, str], body: bytes | BodyDigest = RESPONSE, **expect: str):
    return verify_response(
        headers,
        body,
        responder_hotkey=expect.get("responder", MINER.ss58_address),
        caller_hotkey=expect.get("caller", VALIDATOR.ss58_address),
        request_uuid=expect.get("uuid", UUID),
    )


def test_signed_response_is_bound_to_caller_and_request() -> None:
    headers = response_headers()
    assert headers[h.SIGNED_FOR] == VALIDATOR.ss58_address and headers[h.UUID] == UUID
    assert check_response(headers) == Verified(
        MINER.ss58_address, VALIDATOR.ss58_address, UUID, NOW + 5
    )


def test_response_verifies_against_the_digest_of_its_body() -> None:
    digest = BodyDigest(hashlib.sha256(RESPONSE).hexdigest())
    assert isinstance(check_response(response_headers(), digest), Verified)


def test_response_with_changed_body_is_refused() -> None:
    assert refusal_code(check_response(response_headers(), RESPONSE + b" ")) == Reason.BAD_SIGNATURE


def test_response_from_another_hotkey_is_refused() -> None:
    result = check_response(response_headers(), responder=STRANGER.ss58_address)
    assert refusal_code(result) == Reason.BAD_SIGNATURE


def test_response_for_another_caller_is_refused() -> None:
    result = check_response(response_headers(), caller=STRANGER.ss58_address)
    assert refusal_code(result) == Reason.WRONG_RECEIVER


def test_response_for_another_request_is_refused() -> None:
    result = check_response(response_headers(), uuid="1b3d4f1e-6a2c-4d5e-9f10-1a2b3c4d5e6f")
    assert refusal_code(result) == Reason.WRONG_REQUEST
