"""Stored sparse rows as dense matrices over the rows that can matter, keeping their order.

Only validators (rows with a permit) keep weights, and only rows with stored bonds or a permit
carry bonds, so an epoch works on an (R, n) block with R <= validators + bond holders instead of
(n, n). A presence mask keeps the chain's distinction between an absent entry and a stored 0,
and each row's stored order is kept as a list, because one chain quirk depends on it (SPEC §8.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incentive.types import U16_MAX, SparseRows


@dataclass
class OrderedEntries:
    """Entries of a compacted sparse matrix in their stored order (grouped by row)."""

    row: np.ndarray  # compact row index
    col: np.ndarray

    def mask(self, keep_dense: np.ndarray) -> OrderedEntries:
        """The entries still present in a dense presence mask, order kept."""
        keep = keep_dense[self.row, self.col]
        return OrderedEntries(self.row[keep], self.col[keep])

    def visible(self, shape: tuple[int, int]) -> np.ndarray:
        """Which entries a forward-only peek iterator over uids 0..n finds (SPEC §8.2).

        `compute_liquid_alpha_values_sparse` advances through a row assuming it is sorted by uid:
        an entry is found only if its uid is larger than every uid stored before it in the row.
        """
        out = np.zeros(shape, dtype=bool)
        if self.row.size == 0:
            return out
        key = self.row * (shape[1] + 1) + self.col
        running = np.maximum.accumulate(key)
        previous = np.concatenate(([-1], running[:-1]))
        seen = key > previous
        out[self.row[seen], self.col[seen]] = True
        return out


def check_sparse(name: str, sparse: SparseRows, n: int) -> None:
    """Refuse rows that the chain could not have stored, naming what is wrong."""
    if sparse.n != n:
        raise ValueError(f"{name} has {sparse.n} rows, expected n = {n}")
    rows, cols, vals = sparse.rows, sparse.cols, sparse.vals
    if not (rows.shape == cols.shape == vals.shape) or rows.ndim != 1:
        raise ValueError(f"{name}: rows, cols and vals must be 1-D arrays of equal length")
    if rows.size == 0:
        return
    if int(cols.min()) < 0 or int(cols.max()) >= n:
        raise ValueError(f"{name}: a uid is outside 0..{n - 1}")
    if int(vals.min()) < 0 or int(vals.max()) > U16_MAX:
        raise ValueError(f"{name}: a value is outside the u16 range 0..{U16_MAX}")
    if int(rows[0]) < 0 or int(rows[-1]) >= n:
        raise ValueError(f"{name}: a row index is outside 0..{n - 1}")
    key = rows * n + cols
    step = key[1:] - key[:-1]
    # Rows are usually stored sorted by uid: then strictly increasing keys prove uniqueness
    # without the cost of a sort. Keys also fall when rows are not grouped.
    if not np.all(step > 0):
        if np.any(rows[1:] < rows[:-1]):
            raise ValueError(f"{name}: entries must be grouped by row (rows non-decreasing)")
        if np.unique(key).size != key.size:
            raise ValueError(f"{name}: a row lists the same uid twice")


def to_dense(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int], dtype
) -> tuple[np.ndarray, np.ndarray]:
    """Scatter entries into (values, presence) matrices."""
    flat = rows * shape[1] + cols
    dense = np.zeros(shape[0] * shape[1], dtype=dtype)
    has = np.zeros(shape[0] * shape[1], dtype=bool)
    dense[flat] = values
    has[flat] = True
    return dense.reshape(shape), has.reshape(shape)


def entries_in_order(
    order: OrderedEntries | None, has: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of the present entries: in `order`'s sequence if given, else sorted by uid."""
    if order is None:
        r, c = np.nonzero(has)
        return r, c
    kept = order.mask(has)
    return kept.row, kept.col
