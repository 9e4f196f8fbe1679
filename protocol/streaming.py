"""Signed server-sent event streams: the framing both ends share. Pure: no IO, no clock.

A streamed response is a sequence of events, each `data: <json>\\n\\n` (events are separated by
a blank line; this framing uses LF only), then `data: [DONE]\\n\\n` as OpenAI ends its streams,
then one trailer event:

    event: epistula-signature
    data: {"Epistula-Version": "2", "Epistula-Timestamp": ..., "Epistula-Uuid": ...,
           "Epistula-Signed-By": ..., "Epistula-Signed-For": ..., "Epistula-Request-Signature": ...}

The trailer is an ordinary Epistula response signature (signed for the caller, bound to the
request's uuid) whose body is every byte streamed before the trailer, [DONE] included. A stream
cut short has no trailer and so proves nothing; bytes after the trailer are refused. OpenAI
clients stop reading at [DONE] and never see the trailer.

One signature per stream rather than one per event: signing costs the miner once, and the
verifier can still act on events as they arrive, then learn at the end whether the whole
stream was the miner's.
"""

from __future__ import annotations

import hashlib
import json

from protocol import headers as h
from protocol.epistula import BodyDigest

TRAILER_EVENT = "epistula-signature"
DONE_DATA = "[DONE]"
EVENT_SEPARATOR = b"\n\n"
_DATA_PREFIX = "data:"
_EVENT_PREFIX = "event:"
_COMMENT_PREFIX = ":"
DONE_EVENT = b"data: " + DONE_DATA.encode() + EVENT_SEPARATOR
TRAILER_PREFIX = f"event: {TRAILER_EVENT}\n".encode()


class StreamFormatError(ValueError):
    """The stream does not follow the signed-stream framing."""


def encode_event(payload_json: bytes) -> bytes:
    """One data event. `payload_json` must be single-line JSON (pydantic and json.dumps are)."""
    if b"\n" in payload_json or b"\r" in payload_json:
        raise ValueError("an event payload must be single-line JSON")
    return b"data: " + payload_json + EVENT_SEPARATOR


def encode_trailer(signature_headers: dict[str, str]) -> bytes:
    payload = json.dumps(signature_headers, separators=(",", ":")).encode()
    return TRAILER_PREFIX + encode_event(payload)


class StreamHasher:
    """Running sha256 of the bytes streamed so far (the server's side)."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()

    def add(self, event: bytes) -> bytes:
        self._sha.update(event)
        return event

    def digest(self) -> BodyDigest:
        return BodyDigest(self._sha.hexdigest())


class SignedStreamReader:
    """Split received bytes into events, hash everything before the trailer, keep the trailer.

    `feed(bytes)` returns the data payloads (strings) of the events completed by those bytes,
    `[DONE]` included; `finish()` checks the stream ended with a trailer and nothing after it.
    Then `digest` and `trailer` go to `epistula.verify_response`.
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._pending = bytearray()
        self.trailer: dict[str, str] | None = None

    @property
    def digest(self) -> BodyDigest:
        return BodyDigest(self._sha.hexdigest())

    def feed(self, data: bytes) -> list[str]:
        self._pending += data
        payloads: list[str] = []
        while True:
            end = self._pending.find(EVENT_SEPARATOR)
            if end < 0:
                return payloads
            event = bytes(self._pending[: end + len(EVENT_SEPARATOR)])
            del self._pending[: end + len(EVENT_SEPARATOR)]
            if self.trailer is not None:
                raise StreamFormatError("data after the signature trailer is not covered by it")
            if event.startswith(TRAILER_PREFIX):
                self.trailer = _parse_trailer(event)
                continue
            self._sha.update(event)
            payload = _data_of(event)
            if payload is not None:
                payloads.append(payload)

    def finish(self) -> None:
        if self._pending.strip():
            if self.trailer is not None:
                raise StreamFormatError("data after the signature trailer is not covered by it")
            raise StreamFormatError("the stream ended in the middle of an event")
        if self.trailer is None:
            raise StreamFormatError(
                f"the stream ended without its signature trailer (event: {TRAILER_EVENT})"
            )


def _data_of(event: bytes) -> str | None:
    """The event's data (multi-line data joined by newlines), or None for a comment-only event."""
    try:
        text = event.decode()
    except UnicodeDecodeError as exc:
        raise StreamFormatError(f"an event is not UTF-8: {exc}") from exc
    lines = [line for line in text.split("\n") if line]
    data = [
        line[len(_DATA_PREFIX) :].removeprefix(" ")
        for line in lines
        if line.startswith(_DATA_PREFIX)
    ]
    others = [
        line
        for line in lines
        if not line.startswith((_DATA_PREFIX, _COMMENT_PREFIX, _EVENT_PREFIX, "id:", "retry:"))
    ]
    if others:
        raise StreamFormatError(f"not a server-sent event line: {others[0][:80]!r}")
    return "\n".join(data) if data else None


def _parse_trailer(event: bytes) -> dict[str, str]:
    payload = _data_of(event)
    try:
        fields = json.loads(payload) if payload is not None else None
    except json.JSONDecodeError as exc:
        raise StreamFormatError(f"the signature trailer is not JSON: {exc}") from exc
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
    ):
        raise StreamFormatError("the signature trailer must be a JSON object of strings")
    missing = [name for name in h.EPISTULA_HEADERS if name not in fields]
    if missing:
        raise StreamFormatError(f"the signature trailer lacks {', '.join(missing)}")
    return fields
