"""Decoding a call's arguments: what a runtime's SCALE decoder does before any rule runs.

Arguments arrive as JSON values. Each helper returns the value in its chain type or raises
`ChainError(InvalidArgument)` naming the argument and what it must be.
"""

from __future__ import annotations

from bittensor.sp_core import ss58_decode

from chain.dev.params import U64_MAX
from chain.errors import INVALID_ARGUMENT, ChainError
from chain.types import U16_MAX


def integer(args: dict, name: str, low: int = 0, high: int = U64_MAX) -> int:
    value = args.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChainError(INVALID_ARGUMENT, f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ChainError(INVALID_ARGUMENT, f"{name} must be in [{low}, {high}], got {value}")
    return value


def optional_integer(args: dict, name: str, default: int, high: int = U64_MAX) -> int:
    return default if args.get(name) is None else integer(args, name, 0, high)


def address(args: dict, name: str) -> str:
    value = args.get(name)
    if not is_address(value):
        raise ChainError(INVALID_ARGUMENT, f"{name} must be an ss58 address, got {value!r}")
    return value


def is_address(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ss58_decode(value)
    except ValueError:
        return False
    return True


def u16_list(args: dict, name: str) -> list[int]:
    value = args.get(name)
    if not isinstance(value, list) or not all(type(v) is int for v in value):
        raise ChainError(INVALID_ARGUMENT, f"{name} must be a list of integers in [0, {U16_MAX}]")
    if value and (min(value) < 0 or max(value) > U16_MAX):
        raise ChainError(INVALID_ARGUMENT, f"{name} must be a list of integers in [0, {U16_MAX}]")
    return value


def text(args: dict, name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise ChainError(INVALID_ARGUMENT, f"{name} must be a non-empty string, got {value!r}")
    return value


def hex_bytes(args: dict, name: str, max_len: int) -> str:
    value = args.get(name)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or not raw or len(raw) > max_len:
        raise ChainError(INVALID_ARGUMENT, f"{name} must be hex of 1..{max_len} bytes")
    return value


def value_of(args: dict, name: str) -> int | bool:
    value = args.get(name)
    if not isinstance(value, (int, bool)):
        raise ChainError(INVALID_ARGUMENT, f"{name} must be an integer or a boolean, got {value!r}")
    return value
