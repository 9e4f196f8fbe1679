"""Why a request was refused: one reason code per failure, each with its HTTP status.

Every refusal the server sends is a JSON body `{"error": {"code": ..., "message": ...}}`, where
`code` is a `Reason` value and `message` says what was wrong and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Reason(str, Enum):
    """Refusal codes, in the order the server checks them."""

    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    UNSUPPORTED_VERSION = "unsupported_version"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    WRONG_RECEIVER = "signed_for_another_hotkey"
    BODY_TOO_LARGE = "body_too_large"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED_REQUEST = "replayed_request"
    WRONG_REQUEST = "response_for_another_request"
    REPLAY_CACHE_FULL = "replay_cache_full"
    NOT_REGISTERED = "caller_not_registered"
    NO_VALIDATOR_PERMIT = "caller_without_validator_permit"
    STAKE_TOO_LOW = "caller_stake_too_low"
    MALFORMED_JSON = "malformed_json"
    INVALID_REQUEST = "invalid_request"
    QUEUE_FULL = "queue_full"
    QUEUE_WAIT_EXCEEDED = "queue_wait_exceeded"
    NOT_FOUND = "not_found"
    MODEL_NOT_FOUND = "model_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    HANDLER_ERROR = "handler_error"
    CLIENT_CLOSED = "client_closed_request"


STATUS_OF: dict[Reason, int] = {
    Reason.MISSING_HEADER: 400,
    Reason.MALFORMED_HEADER: 400,
    Reason.UNSUPPORTED_VERSION: 400,
    Reason.TIMESTAMP_TOO_OLD: 401,
    Reason.TIMESTAMP_IN_FUTURE: 401,
    Reason.WRONG_RECEIVER: 401,
    Reason.BODY_TOO_LARGE: 413,
    Reason.BAD_SIGNATURE: 401,
    Reason.REPLAYED_REQUEST: 401,
    # Only a client sees this one (a response bound to a uuid it did not send).
    Reason.WRONG_REQUEST: 401,
    # Refusing (rather than forgetting unexpired ids) is what keeps replays impossible; the
    # condition is temporary, hence 503 + Retry-After rather than a client error.
    Reason.REPLAY_CACHE_FULL: 503,
    Reason.NOT_REGISTERED: 403,
    Reason.NO_VALIDATOR_PERMIT: 403,
    Reason.STAKE_TOO_LOW: 403,
    Reason.MALFORMED_JSON: 400,
    Reason.INVALID_REQUEST: 422,
    Reason.QUEUE_FULL: 429,
    Reason.QUEUE_WAIT_EXCEEDED: 503,
    Reason.NOT_FOUND: 404,
    Reason.MODEL_NOT_FOUND: 404,
    Reason.METHOD_NOT_ALLOWED: 405,
    Reason.HANDLER_ERROR: 500,
    # nginx's status for "the client closed the connection before the answer": never seen by
    # the client, it only tells the server's own counters what happened.
    Reason.CLIENT_CLOSED: 499,
}


@dataclass(frozen=True)
class Refused:
    """A refusal: a machine-readable code, the HTTP status, and a message for a human.

    `retry_after_s` is set when the condition is temporary (queue full, replay cache full).
    """

    code: str
    status: int
    message: str
    retry_after_s: int | None = None
    # OpenAI's error `type` and `param`, for a refusal an OpenAI client should read as OpenAI's
    # own (a model that is not served); both go into the body when `error_type` is set.
    error_type: str | None = None
    param: str | None = None

    @classmethod
    def because(cls, reason: Reason, message: str, *, retry_after_s: int | None = None) -> Refused:
        return cls(reason.value, STATUS_OF[reason], message, retry_after_s)

    def error_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.error_type is not None:
            error.update(type=self.error_type, param=self.param)
        return {"error": error}


def model_not_found(requested: str, served: str) -> Refused:
    """A request naming a model the server does not serve: 404 in OpenAI's error shape
    (`message`, `type`, `param`, `code`), as OpenAI and vLLM answer it."""
    return Refused(
        Reason.MODEL_NOT_FOUND.value,
        STATUS_OF[Reason.MODEL_NOT_FOUND],
        f"The model `{requested}` does not exist on this server: it serves `{served}`.",
        error_type="invalid_request_error",
        param="model",
    )


class RefusedError(Exception):
    """Raise from a handler (or anywhere in the server pipeline) to answer with a refusal.

    A handler that must refuse for its own reasons (an unknown model, say) raises
    `RefusedError(Refused(code="model_not_found", status=404, message="..."))`.
    """

    def __init__(self, refused: Refused) -> None:
        super().__init__(refused.message)
        self.refused = refused
