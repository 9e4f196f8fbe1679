"""The tiny local model: deterministic, byte-level, confident, and seed-specific."""

from __future__ import annotations

import math
import statistics

import torch
from safetensors.torch import load_file

from inference.tiny import main as tiny_main
from inference.tiny_text import BYTE_VOCAB, build_tokenizer


def _weights(directory):
    return load_file(str(directory / "model.safetensors"))


def test_the_command_line_rebuilds_the_same_weights_for_the_same_seed(honest_dir, tmp_path):
    assert tiny_main(["--out", str(tmp_path / "again"), "--seed", "0"]) == 0
    again, first = _weights(tmp_path / "again"), _weights(honest_dir)
    assert again.keys() == first.keys()
    assert all((again[name] == first[name]).all() for name in first)


def test_another_seed_gives_other_weights(honest_dir, cheater_dir):
    honest, cheater = _weights(honest_dir), _weights(cheater_dir)
    assert not (honest["lm_head.weight"] == cheater["lm_head.weight"]).all()


def test_the_tokenizer_maps_bytes_to_their_own_ids_and_back():
    tokenizer = build_tokenizer()
    text = "héllo, wörld ✓"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert ids == list(text.encode("utf-8"))
    assert tokenizer.decode(ids) == text


def test_the_tokenizer_has_special_tokens_after_the_bytes():
    tokenizer = build_tokenizer()
    special = {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id}
    assert len(special) == 3
    assert min(special) >= BYTE_VOCAB
    assert tokenizer.encode("a")[0] == tokenizer.bos_token_id


def test_the_model_is_confident_in_its_greedy_choices(honest_runs):
    # Measured 0.936 for seed 0 (TinyConfig.ridge 1e4): most greedy choices are far from ties.
    probabilities = [math.exp(lp) for c in honest_runs["greedy_alone"] for lp in c.logprobs]
    assert statistics.median(probabilities) > 0.9


def test_the_model_ends_some_completions_with_a_confident_end_of_sequence(honest_runs):
    stopped = [c for c in honest_runs["greedy_alone"] if c.finish_reason == "stop"]
    assert stopped
    assert all(c.logprobs[-1] > math.log(0.99) for c in stopped)


def test_models_of_two_seeds_disagree_on_most_tokens(honest_runs, honest_model, cheater_model):
    """Each model's greedy choice after the same prefixes (measured: 55 % differ)."""
    differ = total = 0
    for completion in honest_runs["greedy_alone"]:
        prompt, tokens = list(completion.prompt_token_ids), list(completion.token_ids)
        ids = torch.tensor([prompt + tokens[:-1]])
        with torch.no_grad():
            picks = [
                loaded.model(input_ids=ids).logits[0, len(prompt) - 1 :].argmax(-1)
                for loaded in (honest_model, cheater_model)
            ]
        differ += int((picks[0] != picks[1]).sum())
        total += len(tokens)
    assert differ / total > 0.5
