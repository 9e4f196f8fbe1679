"""What a call returns: a verified `Reply` (or `StreamReply`), or a `Failure` saying why not."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from protocol.schemas import ErrorBody, ErrorDetail

M = TypeVar("M", bound=BaseModel)
_ERROR_BODY_RE = re.compile(rb'\s*\{\s*"error"\s*:')


@dataclass(frozen=True)
class Target:
    """A neuron to call: its hotkey (whom requests are signed for) and its base URL."""

    hotkey: str
    url: str

    @classmethod
    def at(cls, hotkey: str, host: str, port: int, scheme: str = "http") -> Target:
        shown = f"[{host}]" if ":" in host else host
        return cls(hotkey, f"{scheme}://{shown}:{port}")


class FailureReason(str, Enum):
    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_ERROR = "connection_error"
    BAD_STATUS = "bad_status"
    BAD_SIGNATURE = "bad_signature"
    INVALID_SCHEMA = "invalid_schema"
    RESPONSE_TOO_LARGE = "response_too_large"
    STREAM_ERROR = "stream_error"


@dataclass(frozen=True)
class Failure:
    """Why a call produced no usable answer. `error` is the server's error body, if it sent one;
    `signed` is set when the target signed that body for this request (a refusal the target
    is known to have sent, with its reason code)."""

    target: Target
    reason: FailureReason
    message: str
    latency_s: float
    ttfb_s: float | None = None
    status: int | None = None
    error: ErrorDetail | None = None
    signed: bool = False

    @property
    def refusal(self) -> str | None:
        """The target's own reason code for refusing, when it signed it."""
        return self.error.code if self.signed and self.error is not None else None


@dataclass(frozen=True)
class Reply(Generic[M]):
    """A verified answer. `body` and `headers` (the response's Epistula headers) are its proof."""

    target: Target
    status: int
    parsed: M
    body: bytes
    headers: dict[str, str]
    latency_s: float
    ttfb_s: float


@dataclass(frozen=True)
class StreamReply(Generic[M]):
    """A verified stream: its chunks, the signed trailer, and the timings.

    `first_chunk_s` is the time to the first event (the first token, for a completion).
    """

    target: Target
    chunks: list[M]
    trailer: dict[str, str]
    latency_s: float
    ttfb_s: float
    first_chunk_s: float | None


def successes(outcomes: Sequence[Reply[M] | Failure]) -> list[Reply[M]]:
    """The verified replies among fan-out outcomes."""
    return [outcome for outcome in outcomes if isinstance(outcome, Reply)]


def error_of(payload: str | bytes) -> ErrorDetail | None:
    """The `{"error": {...}}` body in `payload`, if that is what it is."""
    raw = payload.encode() if isinstance(payload, str) else payload
    if not _ERROR_BODY_RE.match(raw):
        return None
    try:
        return ErrorBody.model_validate_json(raw).error
    except ValidationError:
        return None


def summarise(exc: ValidationError) -> str:
    """One line on why a response does not match its schema."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"does not match the schema: {where}: {first['msg']} ({exc.error_count()} errors)"
