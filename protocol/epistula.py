"""Epistula v2, the pure core: build and verify signed headers. No IO, no clock.

The one rule (see `message_to_sign`): the sender signs, with its sr25519 hotkey, the UTF-8 string

    sha256_hex(body_bytes) + "." + uuid + "." + timestamp_ms + "." + signed_for

over the exact bytes that travel on the wire. The time is always passed in (`now_ms`), so every
decision here is a function of its arguments.

Sender:
    headers = sign_request(body, keypair, signed_for=miner_hotkey, now_ms=now)
Receiver:
    result = verify_request(headers, body, receiver_hotkey=me, now_ms=now, seen=seen,
                            window_ms=DEFAULT_WINDOW_MS)
    if isinstance(result, Refused): answer result.status with result.error_body()
Responses are signed by the same rule, bound to their request: `signed_for` is the caller's
hotkey and `uuid` is the request's uuid (`sign_response` / `verify_response`). The pair (signed
request, signed response) proves what a miner answered to what.

`verify_request` checks in this order, cheapest first, and stops at the first failure:
`parse_headers` (present, version, well formed), `check_addressing` (timestamp inside the
symmetric window, signed for this receiver), `check_signature` (over the exact body), then
`SeenRequests.check_and_record` (not a replay). protocol.server runs the same checks on the
raw header pairs (`parse_raw_headers`), reads the body only after `check_addressing`, and
records the uuid (`SeenRequests.record`) only once its caller policy has passed.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

# The very class `bittensor.keyfiles` re-exports, imported from its binding so that a process
# that only speaks the wire does not pay for importing the whole SDK.
from bittensor_core import Keypair

from protocol import headers as h
from protocol.refusals import Reason, Refused

DEFAULT_WINDOW_MS = 10_000
DEFAULT_SEEN_CAPACITY = 100_000
MS_PER_S = 1000

SIGNATURE_BYTES = 64
# Decimal unix milliseconds without leading zeros, so that str(int(x)) == x: the signed message
# uses the integer, and a second spelling of the same timestamp must not exist.
_TIMESTAMP_RE = re.compile(r"(?:0|[1-9][0-9]{0,15})")
_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_SS58_RE = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,64}")
_SIGNATURE_RE = re.compile(rf"0x[0-9a-fA-F]{{{2 * SIGNATURE_BYTES}}}")
_VERIFIER_CACHE_SIZE = 4096
# Lowercased header names (as text, and as raw bytes as ASGI servers and httpx hold them) to
# canonical names.
_NAMES = {name.lower(): name for name in h.EPISTULA_HEADERS}
_RAW_NAMES = {name.encode("latin-1"): canonical for name, canonical in _NAMES.items()}
_UUID_RANDOM_BYTES = 16
# RFC 4122 variant (10xx) as the first hex digit of the fourth group, from two random bits.
_UUID_VARIANT_DIGITS = "89ab"


class Signer(Protocol):
    """Anything that signs like a bittensor Keypair (a hotkey)."""

    @property
    def ss58_address(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class EpistulaHeaders:
    """The Epistula headers of one message, parsed and well formed, not yet verified."""

    timestamp_ms: int
    uuid: str
    signed_by: str
    signed_for: str
    signature: bytes


@dataclass(frozen=True)
class Verified:
    """A message whose signature verified: who signed it, for whom, when, with which uuid."""

    signed_by: str
    signed_for: str
    uuid: str
    timestamp_ms: int


@dataclass(frozen=True)
class BodyDigest:
    """The sha256 hex digest of a body too long to hold at once (a stream hashed as it goes).

    Signing and verifying functions take either the body's bytes or its `BodyDigest`.
    """

    sha256_hex: str


def sha256_hex(body: bytes | BodyDigest) -> str:
    if isinstance(body, BodyDigest):
        return body.sha256_hex
    return hashlib.sha256(body).hexdigest()


def message_to_sign(
    body: bytes | BodyDigest, uuid: str, timestamp_ms: int, signed_for: str
) -> bytes:
    """The bytes an Epistula v2 signature covers. The only place the rule is written."""
    return f"{sha256_hex(body)}.{uuid}.{timestamp_ms}.{signed_for}".encode()


def _signed_headers(
    body: bytes | BodyDigest, keypair: Signer, *, signed_for: str, uuid: str, now_ms: int
) -> dict[str, str]:
    signature = keypair.sign(message_to_sign(body, uuid, now_ms, signed_for))
    return {
        h.VERSION: h.EPISTULA_VERSION,
        h.TIMESTAMP: str(now_ms),
        h.UUID: uuid,
        h.SIGNED_BY: keypair.ss58_address,
        h.SIGNED_FOR: signed_for,
        h.SIGNATURE: "0x" + bytes(signature).hex(),
    }


def new_uuid() -> str:
    """A random (version 4) uuid in its canonical text form.

    The same 122 random bits from the OS as `str(uuid.uuid4())`, formatted directly: the uuid
    module builds an integer and an object first, which costs more than the signature's hash.
    """
    digits = os.urandom(_UUID_RANDOM_BYTES).hex()
    variant = _UUID_VARIANT_DIGITS[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


def sign_request(
    body: bytes, keypair: Signer, signed_for: str, *, now_ms: int, uuid: str | None = None
) -> dict[str, str]:
    """Epistula headers for sending `body` (the exact wire bytes) to the hotkey `signed_for`."""
    return _signed_headers(
        body, keypair, signed_for=signed_for, uuid=uuid or new_uuid(), now_ms=now_ms
    )


def sign_response(
    body: bytes | BodyDigest, keypair: Signer, *, caller_hotkey: str, request_uuid: str, now_ms: int
) -> dict[str, str]:
    """Epistula headers for a response: signed for the caller, bound to the request's uuid."""
    return _signed_headers(
        body, keypair, signed_for=caller_hotkey, uuid=request_uuid, now_ms=now_ms
    )


@lru_cache(maxsize=_VERIFIER_CACHE_SIZE)
def _verifier(ss58_address: str) -> Keypair:
    """A public-key-only Keypair; raises ValueError for an address that does not decode."""
    return Keypair(ss58_address=ss58_address)


def epistula_values(headers: Mapping[str, str]) -> dict[str, str] | Refused:
    """The Epistula headers by canonical name, case-insensitively, in one pass over `headers`;
    a duplicate is refused. Two copies of one header would let a proxy and this server read different values.
    """
    found: dict[str, str] = {}
    for key, value in headers.items():
        name = _NAMES.get(key.lower())
        if name is not None:
            if name in found:
                return _duplicate(name)
            found[name] = value
    return found


def epistula_values_raw(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str] | Refused:
    """`epistula_values` over raw header pairs, as an ASGI scope or httpx's `Headers.raw` hold
    them: every occurrence is seen (a mapping may have merged duplicates), and only the Epistula
    values are decoded.
    """
    found: dict[str, str] = {}
    for key, value in raw:
        name = _RAW_NAMES.get(key.lower())
        if name is not None:
            if name in found:
                return _duplicate(name)
            found[name] = value.decode("latin-1")
    return found


def _duplicate(name: str) -> Refused:
    return Refused.because(
        Reason.MALFORMED_HEADER, f"header {name} appears more than once; send it once"
    )


def parse_headers(headers: Mapping[str, str]) -> EpistulaHeaders | Refused:
    """Check that every Epistula header is present, the version is 2, and each is well formed."""
    return parse_values(epistula_values(headers))


def parse_raw_headers(raw: Iterable[tuple[bytes, bytes]]) -> EpistulaHeaders | Refused:
    """`parse_headers` over raw header pairs (see `epistula_values_raw`)."""
    return parse_values(epistula_values_raw(raw))


def parse_values(values: dict[str, str] | Refused) -> EpistulaHeaders | Refused:
    """The checks of `parse_headers` on the values `epistula_values` found (or its refusal)."""
    if isinstance(values, Refused):
        return values
    # `values` holds Epistula names only, so all six are there exactly when there are six.
    if len(values) < len(h.EPISTULA_HEADERS):
        missing = [name for name in h.EPISTULA_HEADERS if name not in values]
        return Refused.because(
            Reason.MISSING_HEADER,
            f"missing Epistula header(s): {', '.join(missing)}; every request must be signed "
            f"with all of {', '.join(h.EPISTULA_HEADERS)}",
        )
    # The version comes before the formats: another version may spell its fields differently,
    # and "unsupported version" is the message that tells such a sender what to fix.
    if values[h.VERSION] != h.EPISTULA_VERSION:
        return Refused.because(
            Reason.UNSUPPORTED_VERSION,
            f"{h.VERSION} is {values[h.VERSION]!r}; this server speaks Epistula version "
            f"{h.EPISTULA_VERSION}",
        )
    timestamp = values[h.TIMESTAMP]
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        return _malformed(h.TIMESTAMP, timestamp, "unix time in milliseconds, decimal digits")
    uuid = values[h.UUID]
    if not _UUID_RE.fullmatch(uuid):
        return _malformed(h.UUID, uuid, "a uuid such as 0b3d4f1e-6a2c-4d5e-9f10-1a2b3c4d5e6f")
    signed_for = values[h.SIGNED_FOR]
    if not _SS58_RE.fullmatch(signed_for):
        return _malformed(h.SIGNED_FOR, signed_for, "the receiver's ss58 address")
    signed_by = values[h.SIGNED_BY]
    if not _SS58_RE.fullmatch(signed_by) or not _decodes(signed_by):
        return _malformed(h.SIGNED_BY, signed_by, "the sender's ss58 address")
    signature = values[h.SIGNATURE]
    if not _SIGNATURE_RE.fullmatch(signature):
        return _malformed(
            h.SIGNATURE, signature, f"0x followed by {2 * SIGNATURE_BYTES} hex digits"
        )
    return EpistulaHeaders(
        timestamp_ms=int(timestamp),
        uuid=uuid,
        signed_by=signed_by,
        signed_for=signed_for,
        signature=bytes.fromhex(signature[2:]),
    )


def _decodes(ss58_address: str) -> bool:
    try:
        _verifier(ss58_address)
    except ValueError:
        return False
    return True


def _malformed(name: str, value: str, expected: str) -> Refused:
    shown = value if len(value) <= 80 else value[:80] + "..."
    return Refused.because(
        Reason.MALFORMED_HEADER, f"header {name} is {shown!r}; expected {expected}"
    )


def check_addressing(
    parsed: EpistulaHeaders, *, receiver_hotkey: str, now_ms: int, window_ms: int
) -> Refused | None:
    """The timestamp is inside the symmetric window around `now_ms`; the request is for us."""
    age_ms = now_ms - parsed.timestamp_ms
    if age_ms > window_ms:
        return Refused.because(
            Reason.TIMESTAMP_TOO_OLD,
            f"{h.TIMESTAMP} is {age_ms} ms in the past; requests are accepted within "
            f"±{window_ms} ms: sign just before sending and check the sender's clock",
        )
    if -age_ms > window_ms:
        return Refused.because(
            Reason.TIMESTAMP_IN_FUTURE,
            f"{h.TIMESTAMP} is {-age_ms} ms in the future; requests are accepted within "
            f"±{window_ms} ms: check the sender's clock",
        )
    if parsed.signed_for != receiver_hotkey:
        return Refused.because(
            Reason.WRONG_RECEIVER,
            f"request is signed for {parsed.signed_for} but this neuron's hotkey is "
            f"{receiver_hotkey}; sign for the hotkey of the neuron you call",
        )
    return None


def check_signature(parsed: EpistulaHeaders, body: bytes | BodyDigest) -> Refused | None:
    """The signature is `signed_by`'s over exactly these body bytes, uuid, timestamp, receiver."""
    message = message_to_sign(body, parsed.uuid, parsed.timestamp_ms, parsed.signed_for)
    try:
        valid = _verifier(parsed.signed_by).verify(message, parsed.signature)
    except ValueError:
        valid = False
    if valid:
        return None
    return Refused.because(
        Reason.BAD_SIGNATURE,
        f"{h.SIGNATURE} is not {parsed.signed_by}'s signature over sha256(body).uuid.timestamp."
        "signed_for for the body received; sign the exact bytes you send, with the hotkey "
        f"named in {h.SIGNED_BY}",
    )


class SeenRequests:
    """The (signer, uuid) pairs of accepted requests, each kept until its timestamp leaves the
    window: after that the timestamp check refuses a replay by itself.

    Keyed by signer as well as uuid, so one caller cannot burn another caller's uuid. `check`
    and `record` are separate so that a server can remember only requests it accepts (see
    `protocol.server`): then keys that the caller policy refuses cannot fill the cache.

    When full, new requests are refused (503) until entries expire; unexpired entries are never
    evicted. Evicting one would forget a request that is still inside its window, and an attacker
    who floods the cache could then replay it: forgetting is unsafe, refusing is only slow. Size
    the capacity above (verifications per second the host can do) x (2 x window) and a flood
    cannot fill it before it saturates the CPU anyway.
    """

    def __init__(self, capacity: int = DEFAULT_SEEN_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"SeenRequests capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._expires_at: dict[tuple[str, str], int] = {}
        self._by_expiry: list[tuple[int, tuple[str, str]]] = []

    def __len__(self) -> int:
        return len(self._expires_at)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._expires_at

    def purge(self, now_ms: int) -> None:
        """Forget entries whose window has closed (expiry strictly before `now_ms`)."""
        while self._by_expiry and self._by_expiry[0][0] < now_ms:
            _, key = heapq.heappop(self._by_expiry)
            del self._expires_at[key]

    def check(self, signed_by: str, uuid: str, *, now_ms: int) -> Refused | None:
        """Refuse a pair already seen, or any new pair while the cache is full."""
        self.purge(now_ms)
        if (signed_by, uuid) in self._expires_at:
            return Refused.because(
                Reason.REPLAYED_REQUEST,
                f"request {uuid} from {signed_by} was already received; every request needs a "
                "fresh uuid",
            )
        if len(self._expires_at) >= self.capacity:
            wait_ms = max(self._by_expiry[0][0] - now_ms, 0)
            return Refused.because(
                Reason.REPLAY_CACHE_FULL,
                f"the server is tracking {self.capacity} recent requests, its limit; retry later",
                retry_after_s=max(1, math.ceil(wait_ms / MS_PER_S)),
            )
        return None

    def record(self, signed_by: str, uuid: str, *, expires_at_ms: int) -> None:
        """Remember a pair that `check` just passed, until `expires_at_ms`."""
        key = (signed_by, uuid)
        self._expires_at[key] = expires_at_ms
        heapq.heappush(self._by_expiry, (expires_at_ms, key))

    def check_and_record(
        self, signed_by: str, uuid: str, *, expires_at_ms: int, now_ms: int
    ) -> Refused | None:
        """`check`, then `record` if it passed."""
        refused = self.check(signed_by, uuid, now_ms=now_ms)
        if refused is None:
            self.record(signed_by, uuid, expires_at_ms=expires_at_ms)
        return refused


def verify_request(
    headers: Mapping[str, str],
    body: bytes,
    *,
    receiver_hotkey: str,
    now_ms: int,
    seen: SeenRequests,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> Verified | Refused:
    """Every Epistula check on a received request, in order; records its uuid when accepted."""
    parsed = parse_headers(headers)
    if isinstance(parsed, Refused):
        return parsed
    refused = check_addressing(
        parsed, receiver_hotkey=receiver_hotkey, now_ms=now_ms, window_ms=window_ms
    ) or check_signature(parsed, body)
    if refused is None:
        refused = seen.check_and_record(
            parsed.signed_by,
            parsed.uuid,
            expires_at_ms=parsed.timestamp_ms + window_ms,
            now_ms=now_ms,
        )
    if refused is not None:
        return refused
    return Verified(parsed.signed_by, parsed.signed_for, parsed.uuid, parsed.timestamp_ms)


def verify_response(
    headers: Mapping[str, str],
    body: bytes | BodyDigest,
    *,
    responder_hotkey: str,
    caller_hotkey: str,
    request_uuid: str,
) -> Verified | Refused:
    """Check that `body` is what `responder_hotkey` answered to our request `request_uuid`.

    No time window: the response is bound to a request uuid the caller chose itself.
    """
    return check_response(
        parse_headers(headers),
        body,
        responder_hotkey=responder_hotkey,
        caller_hotkey=caller_hotkey,
        request_uuid=request_uuid,
    )


def check_response(
    parsed: EpistulaHeaders | Refused,
    body: bytes | BodyDigest,
    *,
    responder_hotkey: str,
    caller_hotkey: str,
    request_uuid: str,
) -> Verified | Refused:
    """`verify_response` on headers already parsed (by `parse_headers` or `parse_values`)."""
    if isinstance(parsed, Refused):
        return parsed
    if parsed.signed_by != responder_hotkey:
        return Refused.because(
            Reason.BAD_SIGNATURE,
            f"response is signed by {parsed.signed_by}, not by the hotkey called, {responder_hotkey}",
        )
    if parsed.signed_for != caller_hotkey:
        return Refused.because(
            Reason.WRONG_RECEIVER,
            f"response is signed for {parsed.signed_for}, not for the caller {caller_hotkey}",
        )
    if parsed.uuid != request_uuid:
        return Refused.because(
            Reason.WRONG_REQUEST,
            f"response is bound to request {parsed.uuid}, not to the request sent, {request_uuid}",
        )
    refused = check_signature(parsed, body)
    if refused is not None:
        return refused
    return Verified(parsed.signed_by, parsed.signed_for, parsed.uuid, parsed.timestamp_ms)
