"""Epistula v2 header names and wire constants, in one place.

Requests and responses carry the same five headers plus the signature:

    Epistula-Version            "2"
    Epistula-Timestamp          unix time in milliseconds, decimal, no leading zeros
    Epistula-Uuid               the request's uuid (a response repeats its request's uuid)
    Epistula-Signed-By          ss58 address of the signer
    Epistula-Signed-For         ss58 address of the intended receiver
    Epistula-Request-Signature  "0x" + hex of the sr25519 signature over
                                sha256_hex(body) + "." + uuid + "." + timestamp + "." + signed_for

The header is called "Request-Signature" on responses too: that is the name other Epistula
implementations read, and a response is signed by exactly the same rule.

A streamed (server-sent events) response cannot carry its signature in headers sent before the
body, so it ends with one trailer event, `event: epistula-signature`, whose data is a JSON object
with these same header names as keys; its signature covers every byte streamed before the
trailer. See `protocol.streaming`.
"""

from __future__ import annotations

from collections.abc import Iterable

EPISTULA_VERSION = "2"

VERSION = "Epistula-Version"
TIMESTAMP = "Epistula-Timestamp"
UUID = "Epistula-Uuid"
SIGNED_BY = "Epistula-Signed-By"
SIGNED_FOR = "Epistula-Signed-For"
SIGNATURE = "Epistula-Request-Signature"

# Every signed message (request or response) carries all of these; order is the order checked.
EPISTULA_HEADERS: tuple[str, ...] = (VERSION, TIMESTAMP, UUID, SIGNED_BY, SIGNED_FOR, SIGNATURE)

RETRY_AFTER = "Retry-After"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_SSE = "text/event-stream"
CONTENT_LENGTH_RAW = b"content-length"


def raw_value(raw_headers: Iterable[tuple[bytes, bytes]], lowercase_name: bytes) -> bytes | None:
    """The first value of a header among raw (bytes) pairs, as an ASGI scope or httpx's
    `Headers.raw` hold them, without decoding the others; None when absent."""
    for key, value in raw_headers:
        if key.lower() == lowercase_name:
            return value
    return None
