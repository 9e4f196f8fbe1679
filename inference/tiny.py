"""A small language model built locally and deterministically, for tests and the local demo.

    python -m inference.tiny --out DIR [--seed N]

builds a Llama-style causal LM (about 1 M parameters), a byte-level tokenizer and a chat
template, and saves them with ``save_pretrained``; everything that uses it loads it back with
``from_pretrained``, the path real models take. Nothing is downloaded. In code:
``build_tiny_model(out_dir, seed=0) -> Path``.

How the weights are made, and why. A freshly initialised transformer gives near-uniform
next-token distributions: greedy decoding then hinges on logit differences of the order of
float rounding, batching noise can flip it, and a verifier's thresholds mean nothing because
every token is about as likely as every other. Training properly would take minutes on a
CPU. Instead:

1. The seed picks a tiny synthetic language (``inference.tiny_text``): random walks over a
   fixed list of English words, each word with a dominant and a rare successor, sentences
   ending with "." and then end-of-sequence. Two seeds give two languages over the same
   tokenizer, so a model built with another seed disagrees with this one on most tokens:
   that is the "cheater" of the demo and of the verification tests.
2. The seed also initialises the transformer body at random; it is never trained.
3. The output layer is fitted in closed form: ridge regression from the body's final hidden
   states on the corpus to the one-hot next token (a random-features model), regularised
   enough that half precision moves the logits about as little as it moves a trained
   model's (``TinyConfig.ridge``). One forward
   pass over a few hundred short texts and one small linear solve, in float64: a second or
   two on a CPU, reproducible bit for bit on one machine.
4. The fitted scores are scaled to logits by the factor that minimises held-out
   cross-entropy, times ``sharpen``: the model is then confident where the language is
   (inside words, end-of-sequence right after a final "."), hesitant at the rare forks, and
   its greedy choices are far from ties. Bytes the corpus never uses get logits near zero,
   far below the fitted tokens, so the model writes lowercase word-like text; a random body
   predicts about three bytes in four of its language, so words come out garbled
   ("the river" -> " hones starning star.").

The body attends over the whole context, so completions depend on the prompt and a wrong
attention mask or position id changes them: the batching tests rely on that.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from inference.tiny_text import (
    build_tokenizer,
    encode_training_sample,
    synthetic_samples,
)

# Logit scales tried when calibrating the fitted scores (see step 4 of the module docstring).
CALIBRATION_SCALES = (2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0, 24.0, 32.0)
# Share of the corpus held out to calibrate the logit scale.
HELD_OUT_FRACTION = 0.2
# Sequences per forward pass while collecting hidden states.
FIT_BATCH = 32


@dataclass(frozen=True)
class TinyConfig:
    """Shape of the tiny model and of its closed-form fit.

    Narrow on purpose: on a CPU a decode step costs Python overhead per layer while a
    verification pass costs arithmetic per token, so the narrower the layers, the cheaper
    verification is next to generation (a real model on a GPU is far cheaper still). The
    final width (hidden_size) is what the fitted readout sees, so it stays at 256.
    """

    hidden_size: int = 256
    intermediate_size: int = 256
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 4
    context_length: int = 1024
    rope_theta: float = 10000.0
    corpus_samples: int = 400
    # Strong regularisation keeps the readout on the directions the random body's states
    # really vary in, so half precision barely moves the logits. Measured on 64 completions
    # (1,400 positions), the spread of bfloat16-minus-float32 logprobs over the 20 likeliest
    # tokens, median / 99th percentile / max: ridge 0.01: 1.15 / 2.0 / 2.4 nats (no real model
    # is that fragile); 1e3: 0.23 / 0.46 / 0.49; 1e4: 0.11 / 0.21 / 0.26, the order of a
    # trained model's; 1e5: 0.05 / 0.08 / 0.09 but its completions degenerate into repeats.
    ridge: float = 1e4
    # Multiplies the calibrated logit scale: > 1 trades calibration for confidence.
    sharpen: float = 2.5


def build_tiny_model(out_dir: str | Path, seed: int = 0, config: TinyConfig | None = None) -> Path:
    """Build the tiny model for ``seed`` and save model + tokenizer into ``out_dir``."""
    config = config or TinyConfig()
    out = Path(out_dir)
    tokenizer = build_tokenizer()
    tokenizer.model_max_length = config.context_length
    threads = torch.get_num_threads()
    # One thread: the reduction order of the fit, hence its bits, must not depend on the host.
    torch.set_num_threads(1)
    try:
        model = _fitted_model(tokenizer, seed, config)
    finally:
        torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "tiny_build.json").write_text(
        json.dumps({"seed": seed, **asdict(config)}, indent=2) + "\n"
    )
    return out


def _fitted_model(tokenizer, seed: int, config: TinyConfig) -> LlamaForCausalLM:
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        max_position_embeddings=config.context_length,
        rope_theta=config.rope_theta,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(model_config).eval()
    sequences = [
        encode_training_sample(tokenizer, s) for s in synthetic_samples(seed, config.corpus_samples)
    ]
    hidden, targets = _hidden_states(model, sequences, tokenizer.pad_token_id)
    n_fit = int(len(targets) * (1 - HELD_OUT_FRACTION))
    weights = _ridge_readout(hidden[:n_fit], targets[:n_fit], len(tokenizer), config.ridge)
    scale = _calibrated_scale(hidden[n_fit:] @ weights, targets[n_fit:])
    with torch.no_grad():
        model.lm_head.weight.copy_((weights * scale * config.sharpen).T.to(torch.float32))
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def _hidden_states(
    model: LlamaForCausalLM, sequences: list[list[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Final hidden state at every position that has a next token, and that next token."""
    hidden, targets = [], []
    with torch.no_grad():
        for start in range(0, len(sequences), FIT_BATCH):
            chunk = sequences[start : start + FIT_BATCH]
            width = max(len(s) for s in chunk)
            # Right padding: a causal model's states at real positions ignore later pads.
            ids = torch.full((len(chunk), width), pad_id)
            for row, seq in enumerate(chunk):
                ids[row, : len(seq)] = torch.tensor(seq)
            states = model.model(input_ids=ids).last_hidden_state
            for row, seq in enumerate(chunk):
                hidden.append(states[row, : len(seq) - 1])
                targets.append(torch.tensor(seq[1:]))
    return torch.cat(hidden).double(), torch.cat(targets)


def _ridge_readout(
    hidden: torch.Tensor, targets: torch.Tensor, vocab: int, ridge: float
) -> torch.Tensor:
    one_hot = torch.zeros(len(targets), vocab, dtype=torch.float64)
    one_hot[torch.arange(len(targets)), targets] = 1.0
    gram = hidden.T @ hidden + ridge * torch.eye(hidden.shape[1], dtype=torch.float64)
    return torch.linalg.solve(gram, hidden.T @ one_hot)


def _calibrated_scale(scores: torch.Tensor, targets: torch.Tensor) -> float:
    losses = {
        s: torch.nn.functional.cross_entropy(scores * s, targets).item() for s in CALIBRATION_SCALES
    }
    return min(losses, key=losses.__getitem__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inference.tiny",
        description="Build the small local model (no download) and save it with save_pretrained.",
    )
    parser.add_argument("--out", required=True, help="directory to write the model into")
    parser.add_argument("--seed", type=int, default=0, help="seed of the language and weights")
    args = parser.parse_args(argv)
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)  # before the fit, not after it
        out = build_tiny_model(args.out, seed=args.seed)
    except OSError as exc:
        parser.error(
            f"cannot write the model to {args.out} ({exc.strerror or exc}): give --out "
            "a folder you can write to"
        )
    print(f"tiny model (seed {args.seed}) saved to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
