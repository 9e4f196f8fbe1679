"""Load a Hugging Face causal LM and its tokenizer, by local path or hub name.

    loaded = load_model("runs/tiny")                    # a directory from save_pretrained
    loaded = load_model("Qwen/Qwen2.5-0.5B-Instruct")   # a hub name (needs network or cache)

The device is CUDA when present, else CPU (``device=`` overrides); the dtype is bfloat16 on a
GPU and float32 on a CPU (``dtype=`` overrides). Mistakes fail here, at start-up, with a
message saying what to pass instead: a path that does not exist, a hub name while offline
(``HF_HUB_OFFLINE=1``) and not in the local cache, a hub name that cannot be fetched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from inference.types import ModelLoadError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BUILD_HINT = "build the local test model with `python -m inference.tiny --out DIR` and pass DIR"
# Context lengths above this in a tokenizer config are "unset" placeholders, not limits.
_UNSET_CONTEXT = 10**8


@dataclass
class LoadedModel:
    """A model ready to run: weights in eval mode on ``device``, its tokenizer and limits."""

    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    dtype: torch.dtype
    context_length: int
    eos_token_ids: frozenset[int]
    name: str


def best_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted (read at call time)."""
    flag = os.environ.get("HF_HUB_OFFLINE", "") or os.environ.get("TRANSFORMERS_OFFLINE", "")
    return flag.strip().lower() in {"1", "true", "yes", "on"}


def load_model(
    name_or_path: str | os.PathLike[str],
    *,
    device: str | torch.device | None = None,
    dtype: str | None = None,
    context_length: int | None = None,
) -> LoadedModel:
    """Load model and tokenizer through ``from_pretrained`` (see the module docstring)."""
    name = str(name_or_path)
    target = torch.device(device) if device is not None else best_device()
    torch_dtype = _pick_dtype(dtype, target)
    source, offline = _resolve_source(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
        model = AutoModelForCausalLM.from_pretrained(
            source, local_files_only=offline, dtype=torch_dtype
        )
    except OSError as exc:  # missing files, not in cache, no network, unknown repository
        raise ModelLoadError(_fetch_failure(name, offline, exc)) from exc
    model.to(target).eval()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        device=target,
        dtype=torch_dtype,
        context_length=context_length or context_length_of(model, tokenizer, name),
        eos_token_ids=eos_token_ids_of(model, tokenizer),
        name=name,
    )


def _pick_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def _looks_like_path(name: str) -> bool:
    """Meant as a directory: anything but "name" or "owner/name", and also "owner/name" whose
    owner is a folder here (`models/nope` next to `models/tiny` is a typo, not a hub id)."""
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        return True
    owner, slash, _ = name.partition("/")
    return bool(slash) and Path(owner).is_dir()


def _resolve_source(name: str) -> tuple[str, bool]:
    """The argument for from_pretrained and whether to stay offline; refuses hopeless names."""
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path), True
    if path.exists():
        raise ModelLoadError(
            f"{name} is a file, not a model directory: pass the directory that "
            f"save_pretrained wrote, or {BUILD_HINT}"
        )
    if _looks_like_path(name):
        folder = path.parent
        there = (
            ", ".join(sorted(p.name for p in folder.iterdir() if p.is_dir()))
            if (folder.is_dir())
            else ""
        )
        found = f" ({folder} holds: {there})" if there else ""
        raise ModelLoadError(
            f"model path {name} does not exist{found}: {BUILD_HINT}, or pass a hub name"
        )
    return name, hub_offline()


def _fetch_failure(name: str, offline: bool, exc: OSError) -> str:
    if offline:
        return (
            f"{name} is not a local directory and the hub is offline (HF_HUB_OFFLINE=1) "
            f"with no cached copy: pass a local model directory ({BUILD_HINT}), or fetch "
            f"the model once with network access. ({exc.__class__.__name__}: {exc})"
        )
    return (
        f"could not load {name} as a local directory or from the hub: pass a local model "
        f"directory ({BUILD_HINT}) or a hub name that exists. ({exc.__class__.__name__}: {exc})"
    )


def context_length_of(model, tokenizer, name: str = "the model") -> int:
    """The longest sequence the model takes, from its config and its tokenizer."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else None
    candidates = [
        getattr(config or model.config, "max_position_embeddings", None),
        getattr(tokenizer, "model_max_length", None),
    ]
    limits = [int(c) for c in candidates if isinstance(c, int) and 0 < c < _UNSET_CONTEXT]
    if not limits:
        raise ModelLoadError(
            f"cannot tell the context length of {name}: pass context_length explicitly"
        )
    return min(limits)


def eos_token_ids_of(model, tokenizer) -> frozenset[int]:
    """Every token id that ends generation: the generation config's and the tokenizer's."""
    ids: set[int] = set()
    generation = getattr(model, "generation_config", None)
    configured = getattr(generation, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


def vocab_size_of(model) -> int:
    """How many token ids the model scores (its output layer's width)."""
    return int(model.get_output_embeddings().weight.shape[0])


def pad_token_id_of(tokenizer, eos_token_ids: frozenset[int]) -> int:
    """The id that fills padded positions: the tokenizer's pad token, else an end-of-sequence
    id (padded positions are masked out, so any valid id will do)."""
    pad = tokenizer.pad_token_id
    return pad if pad is not None else min(eos_token_ids, default=0)
