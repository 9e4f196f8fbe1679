"""OpenAI's error objects: what every refusal of the gateway looks like on the wire.

    {"error": {"message": "...", "type": "invalid_request_error", "param": null, "code": "..."}}

The status codes and `type` values are OpenAI's (400 invalid_request_error, 401 invalid API
key, 404 unknown model, 429 rate limits with Retry-After, 503 when no miner can answer), so
the official client raises its usual exception classes (`BadRequestError`,
`AuthenticationError`, `NotFoundError`, `RateLimitError`, `InternalServerError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from starlette.responses import JSONResponse

INVALID_REQUEST = "invalid_request_error"
RATE_LIMIT = "rate_limit_error"
SERVER_ERROR = "server_error"
RETRY_AFTER = "Retry-After"


@dataclass(frozen=True)
class ApiError(Exception):
    """A refusal: its status, OpenAI's type and code, and a message saying what to fix."""

    status: int
    message: str
    type: str = INVALID_REQUEST
    code: str | None = None
    param: str | None = None
    retry_after_s: int | None = None

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        headers = {RETRY_AFTER: str(self.retry_after_s)} if self.retry_after_s is not None else {}
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(int(HTTPStatus.BAD_REQUEST), message, code=code, param=param)


def invalid_key(message: str) -> ApiError:
    return ApiError(int(HTTPStatus.UNAUTHORIZED), message, code="invalid_api_key")


def unknown_model(model: str, served: str) -> ApiError:
    return ApiError(
        int(HTTPStatus.NOT_FOUND),
        f"the model {model!r} does not exist here: this gateway serves {served!r} "
        "(GET /v1/models lists it)",
        code="model_not_found",
        param="model",
    )


def rate_limited(message: str, retry_after_s: int, code: str) -> ApiError:
    return ApiError(
        int(HTTPStatus.TOO_MANY_REQUESTS), message, RATE_LIMIT, code, retry_after_s=retry_after_s
    )


def unavailable(message: str, retry_after_s: int) -> ApiError:
    return ApiError(
        int(HTTPStatus.SERVICE_UNAVAILABLE),
        message,
        SERVER_ERROR,
        "no_miner_available",
        retry_after_s=retry_after_s,
    )


def upstream_failed(message: str) -> ApiError:
    return ApiError(int(HTTPStatus.BAD_GATEWAY), message, SERVER_ERROR, "upstream_failed")
