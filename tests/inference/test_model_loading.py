"""Loading models: the tiny model through from_pretrained, and clear start-up errors."""

from __future__ import annotations

import pytest
import torch

from inference.loading import load_model
from inference.types import ModelLoadError


def test_the_tiny_model_loads_in_float32_on_cpu(honest_model):
    assert honest_model.device.type == "cpu"
    assert next(honest_model.model.parameters()).dtype == torch.float32
    assert honest_model.context_length == 1024
    assert honest_model.eos_token_ids == {honest_model.tokenizer.eos_token_id}


def test_a_dtype_can_be_asked_for(honest_dir):
    loaded = load_model(honest_dir, dtype="bfloat16")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


def test_an_unknown_dtype_is_refused_with_the_choices(honest_dir):
    with pytest.raises(ModelLoadError, match="float32, bfloat16, float16"):
        load_model(honest_dir, dtype="float8")


def test_a_missing_path_says_how_to_build_a_model(tmp_path):
    with pytest.raises(ModelLoadError, match=r"does not exist: .*python -m inference\.tiny"):
        load_model(tmp_path / "no-such-model")


def test_a_file_instead_of_a_directory_is_refused(honest_dir):
    with pytest.raises(ModelLoadError, match="not a model directory"):
        load_model(honest_dir / "config.json")


def test_a_hub_name_while_offline_says_what_to_pass_instead(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match=r"offline .*python -m inference\.tiny"):
        load_model("subnetkit-tests/model-that-is-not-cached")


def test_model_load_error_is_a_value_error():
    assert issubclass(ModelLoadError, ValueError)


def test_a_missing_folder_next_to_models_is_a_path_error_not_a_hub_lookup(tmp_path, monkeypatch):
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match=r"models/nope does not exist \(models holds: tiny\)"):
        load_model("models/nope")
