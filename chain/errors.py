"""`ChainError`: every refused chain call, with subtensor's own error name as its code.

A refusal never changes chain state. `code` is the name subtensor (or the Balances pallet,
or the transaction pool) gives the failure, such as `SettingWeightsTooFast`, so code that
branches on it behaves the same on the dev chain and on finney. A few failures have no
subtensor name because they are caught before anything reaches a chain; those use the codes
listed in `LOCAL_CODES`.
"""

from __future__ import annotations

# Codes for failures that subtensor has no error name for.
INVALID_ARGUMENT = "InvalidArgument"  # malformed input caught before any chain sees it
BAD_PROOF = "BadProof"  # the transaction's signature does not verify (pool: BadProof)
STALE = "Stale"  # the nonce was already used (pool: Stale)
FUTURE = "Future"  # the nonce is ahead of the account's next nonce (pool: Future)
BAD_ORIGIN = "BadOrigin"  # the signer may not make this call (dispatch: BadOrigin)
UNKNOWN_CALL = "UnknownCall"  # the dev chain has no call of that name
NOT_SUPPORTED = "NotSupported"  # the operation does not exist on this kind of chain
CONNECTION = "ConnectionError"  # the chain could not be reached
STORE_FAILED = "StoreFailed"  # the node could not make a change durable; restart it
UNKNOWN = "Unknown"  # the chain refused without saying why

LOCAL_CODES = (
    INVALID_ARGUMENT,
    BAD_PROOF,
    STALE,
    FUTURE,
    BAD_ORIGIN,
    UNKNOWN_CALL,
    NOT_SUPPORTED,
    CONNECTION,
    STORE_FAILED,
    UNKNOWN,
)


class ChainError(Exception):
    """A chain call was refused; nothing changed.

    `code` is subtensor's error name where one exists (`HotKeyNotRegisteredInSubNet`,
    `NotEnoughBalanceToStake`, ...), else one of `LOCAL_CODES`. `message` says what to do.
    """

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict) -> ChainError:
        return cls(str(data.get("code", UNKNOWN)), str(data.get("message", "")))

    def __reduce__(self):
        return (type(self), (self.code, self.message))
