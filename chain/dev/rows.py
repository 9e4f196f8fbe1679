"""Stored weight and bond rows: `Vec<(u16 uid, u16 value)>` as a flat u16 array.

A row is an `array('H')` of interleaved pairs (uid0, value0, uid1, value1, ...), in the order
they were stored. The layout is the chain's, and it lets a whole subnet's rows become one
`SparseRows` with a single buffer join (and come back with one split) at every epoch.
"""

from __future__ import annotations

from array import array

import numpy as np

from incentive.types import SparseRows

TYPECODE = "H"


def make_row(uids, values) -> array:
    row = array(TYPECODE, bytes(4 * len(uids)))
    row[0::2] = array(TYPECODE, uids)
    row[1::2] = array(TYPECODE, values)
    return row


def empty_row() -> array:
    return array(TYPECODE)


def pairs(row: array) -> list[tuple[int, int]]:
    return list(zip(row[0::2], row[1::2], strict=True))


def row_from_pairs(items) -> array:
    return array(TYPECODE, [int(x) for pair in items for x in pair])


def to_sparse(rows: list[array]) -> SparseRows:
    n = len(rows)
    flat = np.frombuffer(b"".join(rows), dtype=np.uint16).astype(np.int64)
    lengths = [len(r) // 2 for r in rows]
    return SparseRows(
        n,
        np.repeat(np.arange(n, dtype=np.int64), lengths),
        flat[0::2].copy(),
        flat[1::2].copy(),
    )


def from_sparse(sparse: SparseRows) -> list[array]:
    flat = np.empty(2 * len(sparse.cols), dtype=np.uint16)
    flat[0::2] = sparse.cols
    flat[1::2] = sparse.vals
    ends = np.searchsorted(sparse.rows, np.arange(1, sparse.n + 1), side="left")
    starts = np.concatenate(([0], ends[:-1]))
    data = flat.tobytes()
    return [array(TYPECODE, data[4 * s : 4 * e]) for s, e in zip(starts, ends, strict=True)]
