"""The shared KV cache under continuous batching: padding, leaving rows, in-place growth."""

from __future__ import annotations

import torch

from inference.kv_batch import KVBatch


def _batch(loaded) -> KVBatch:
    return KVBatch(loaded.model, loaded.device, loaded.tokenizer.pad_token_id)


def test_rows_leaving_trim_the_padding_nobody_needs(honest_model):
    batch = _batch(honest_model)
    batch.prefill([[256] + [97] * 30, [256, 98]])
    assert batch.width == 31
    batch.keep([1])  # the long row leaves; the short one needs 2 columns
    assert batch.width == 2
    assert batch.mask.tolist() == [[1, 1]]


def test_a_joining_row_is_padded_on_the_left_of_the_running_rows(honest_model):
    batch = _batch(honest_model)
    batch.prefill([[256, 97, 98]])
    batch.prefill([[256] + [99] * 5])
    assert batch.size == 2
    assert batch.mask.tolist() == [[0, 0, 0, 1, 1, 1], [1] * 6]
    assert batch.positions.tolist() == [3, 6]


def test_decode_steps_write_into_the_cache_without_copying_it(honest_model):
    batch = _batch(honest_model)
    batch.prefill([[256, 97, 98], [256, 99]])
    batch.decode([100, 101])  # the first step after prefill moves the cache into a buffer
    layer = batch.cache.layers[0]
    storage = layer.keys.data_ptr()
    for token in range(5):
        batch.decode([100 + token, 100 + token])
    assert layer.keys.data_ptr() == storage
    assert layer.keys.shape[-2] == batch.width


def test_padded_positions_hold_no_nan(honest_model):
    batch = _batch(honest_model)
    batch.prefill([[256] + [97] * 20, [256]])
    for layer in batch.cache.layers:
        assert not torch.isnan(layer.keys).any() and not torch.isnan(layer.values).any()
