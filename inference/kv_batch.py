"""A batch of sequences sharing one left-padded KV cache, which rows can join and leave.

This is the tensor side of continuous batching; inference.scheduler decides what runs.

Layout: row r of the cache holds its sequence's keys and values right-aligned, so the newest
position of every row is the last column and one decode step appends one column for all rows.
``mask`` marks real positions (1) and padding (0); ``positions`` holds each row's next
position id, so rotary embeddings see every sequence exactly as if it ran alone. Invariant:
the cache holds every token of a row except the last one sampled, which the next decode step
feeds in.

Joining: new prompts are prefilled together into a cache of their own, then the older or the
newer part is padded on the left to the same width and the two are stacked. Leaving: rows are
selected out, and columns that have become padding in every remaining row are trimmed.

Growth: the cache's layers are SpareRoomLayers, which write each decode step's keys and values
into spare room instead of copying the whole cache as transformers' default layer does.

The cache manipulation needs full-attention cache layers (``keys``/``values`` tensors of
shape [batch, heads, seq, head_dim]); ``supports_joining`` says whether this model's cache is
of that kind. When it is not (a model that brings its own cache layers), the scheduler only
starts a new batch when the previous one is done.
"""

from __future__ import annotations

import inspect

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

# A full buffer grows to this multiple of the length it must hold, and by at least MIN_ROOM.
GROWTH = 1.5
MIN_ROOM = 64


class SpareRoomLayer(DynamicLayer):
    """A full-attention cache layer whose keys and values live in a buffer with room to spare.

    transformers' DynamicLayer concatenates each new position onto the whole cache, copying
    all of it at every decode step (a quarter of a step's time at batch 16 on a CPU). This
    layer writes new positions in place and copies only when the buffer is full, or when
    KVBatch has put new tensors in ``keys``/``values`` (rows joining or leaving).
    """

    _key_buffer: torch.Tensor | None = None
    _value_buffer: torch.Tensor | None = None

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        length = self.get_seq_length()
        end = length + key_states.shape[-2]
        if not self._buffer_holds_cache(end):
            self._grow(key_states, value_states, length, end)
        self._key_buffer[:, :, length:end] = key_states
        self._value_buffer[:, :, length:end] = value_states
        self.keys = self._key_buffer[:, :, :end]
        self.values = self._value_buffer[:, :, :end]
        return self.keys, self.values

    def _buffer_holds_cache(self, end: int) -> bool:
        buffer = self._key_buffer
        return (
            buffer is not None
            and buffer.shape[-2] >= end
            and self.keys.dim() == buffer.dim()
            and self.keys.shape[:2] == buffer.shape[:2]
            and self.keys.data_ptr() == buffer.data_ptr()
            and self.values.data_ptr() == self._value_buffer.data_ptr()
        )

    def _grow(self, key_states, value_states, length: int, end: int) -> None:
        room = max(int(end * GROWTH), end + MIN_ROOM)
        batch, heads, _, key_dim = key_states.shape
        keys = key_states.new_empty((batch, heads, room, key_dim))
        values = value_states.new_empty((batch, heads, room, value_states.shape[-1]))
        if length:
            keys[:, :, :length] = self.keys
            values[:, :, :length] = self.values
        self._key_buffer, self._value_buffer = keys, values


# Cache layer types whose keys/values can be padded and stacked along the batch axis.
_JOINABLE_LAYERS = {"DynamicLayer", "SpareRoomLayer"}


def new_cache() -> DynamicCache:
    """An empty cache whose layers are SpareRoomLayers."""
    cache = DynamicCache()
    cache.layer_class_to_replicate = SpareRoomLayer
    return cache


class KVBatch:
    """Rows of sequences with their shared cache; see the module docstring."""

    def __init__(self, model: torch.nn.Module, device: torch.device, pad_token_id: int):
        self.model = model
        self.device = device
        self.pad_token_id = pad_token_id
        # transformers 5 calls the cache argument `cache`, earlier versions `past_key_values`.
        params = inspect.signature(type(model).forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"
        self._keep_kwarg = logits_to_keep_kwarg(model)
        self.cache: DynamicCache | None = None
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=device)
        self.positions = torch.zeros(0, dtype=torch.long, device=device)
        self.supports_joining = True

    @property
    def size(self) -> int:
        return int(self.mask.shape[0])

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    @torch.inference_mode()
    def prefill(self, prompts: list[list[int]]) -> torch.Tensor:
        """Run new prompts, append them as the last rows; logits [n, vocab] of their last token."""
        ids, mask, positions = left_padded(prompts, self.pad_token_id, self.device)
        cache = new_cache()
        logits = self._forward(ids, mask, positions, cache, last_only=True)
        _zero_padding(cache, mask)
        self._join(cache, mask, positions[:, -1] + 1)
        return logits[:, -1, :]

    @torch.inference_mode()
    def decode(self, tokens: list[int]) -> torch.Tensor:
        """Feed each row's last sampled token; logits [rows, vocab] for the next one."""
        ids = torch.tensor(tokens, dtype=torch.long, device=self.device)[:, None]
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.size, 1))], dim=1)
        logits = self._forward(ids, self.mask, self.positions[:, None], self.cache, last_only=True)
        self.positions = self.positions + 1
        return logits[:, -1, :]

    def keep(self, rows: list[int]) -> None:
        """Keep only these rows, in this order; drop the cache entirely when none remain."""
        if len(rows) == self.size:
            return
        if not rows:
            self.cache = None
            self.mask = self.mask[:0, :0]
            self.positions = self.positions[:0]
            return
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        self.mask = self.mask.index_select(0, index)
        self.positions = self.positions.index_select(0, index)
        if not self.supports_joining:
            self.cache.batch_select_indices(index)
            return
        # Columns that are padding in every remaining row no longer matter to anyone.
        first = int(self.mask.any(dim=0).long().argmax())
        self.mask = self.mask[:, first:]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, first:]
            layer.values = layer.values.index_select(0, index)[:, :, first:]

    def _forward(self, ids, mask, positions, cache, *, last_only: bool) -> torch.Tensor:
        kwargs = {self._cache_kwarg: cache}
        if last_only and self._keep_kwarg:
            kwargs[self._keep_kwarg] = 1
        out = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **kwargs
        )
        return out.logits

    def _join(self, cache: DynamicCache, mask: torch.Tensor, positions: torch.Tensor) -> None:
        joinable = all(type(layer).__name__ in _JOINABLE_LAYERS for layer in cache.layers)
        if self.cache is None or self.size == 0:
            self.cache, self.mask, self.positions = cache, mask, positions
            self.supports_joining = joinable
            return
        if not (joinable and self.supports_joining):
            raise RuntimeError("this model's KV cache cannot take new rows into a running batch")
        width = max(self.width, mask.shape[1])
        for old, new in zip(self.cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([_left_pad(old.keys, width), _left_pad(new.keys, width)])
            old.values = torch.cat([_left_pad(old.values, width), _left_pad(new.values, width)])
        self.mask = torch.cat([_left_pad(self.mask, width), _left_pad(mask, width)])
        self.positions = torch.cat([self.positions, positions])


def left_padded(
    rows: list[list[int]], pad_token_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token id rows left-padded to one width, on ``device``: (ids, mask, position ids).

    Position ids count a row's real tokens only, so every row sees the positions it would see
    alone; padded positions get 0 and are masked out.
    """
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, width - len(row) :] = torch.tensor(row)
        mask[r, width - len(row) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


def logits_to_keep_kwarg(model: torch.nn.Module) -> str | None:
    """The forward argument that limits logits to the last positions, if the model has one."""
    params = inspect.signature(type(model).forward).parameters
    return next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None)


def _left_pad(t: torch.Tensor, width: int) -> torch.Tensor:
    """Pad the sequence axis (-2 for cache tensors [b, h, s, d], -1 for masks [b, s]) on the left."""
    if t.dim() == 2:
        return torch.nn.functional.pad(t, (width - t.shape[1], 0))
    return torch.nn.functional.pad(t, (0, 0, width - t.shape[2], 0))


def _zero_padding(cache: DynamicCache, mask: torch.Tensor) -> None:
    """Zero cached keys/values at padded positions.

    A padded query attends to nothing, which some attention kernels turn into NaN; masked
    attention still multiplies those values by a zero weight, and 0 * NaN is NaN.
    """
    pad = (mask == 0)[:, None, :, None]
    for layer in cache.layers:
        if type(layer).__name__ in _JOINABLE_LAYERS:
            layer.keys = layer.keys.masked_fill(pad, 0.0)
            layer.values = layer.values.masked_fill(pad, 0.0)
