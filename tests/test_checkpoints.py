"""Checkpoint validation: every problem is named, with what it should be and where it is published."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from vividvr_engine.checkpoints import CheckpointPaths, load_models
from vividvr_engine.errors import CheckpointError


@pytest.fixture
def checkpoint_copy(tmp_path, reference_checkpoints) -> Path:
    root = tmp_path / "ckpts"
    shutil.copytree(reference_checkpoints, root)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def test_published_layout_validates(reference_checkpoints):
    CheckpointPaths.from_root(reference_checkpoints).validate()


def test_empty_root_lists_every_part_with_its_source(tmp_path):
    with pytest.raises(CheckpointError) as error:
        CheckpointPaths.from_root(tmp_path).validate()
    message = str(error.value)
    assert "CogVideoX1.5-5B" in message and "huggingface.co/zai-org/CogVideoX1.5-5B" in message
    for name in ("connectors.pt", "control_feat_proj.pt", "control_patch_embed.pt", "controlnet"):
        assert name in message
    assert "huggingface.co/csbhr/Vivid-VR" in message
    assert "--engine preview" in message


def test_missing_transformer_weights_are_named(checkpoint_copy):
    (checkpoint_copy / "CogVideoX1.5-5B/transformer/diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"transformer/diffusion_pytorch_model\.safetensors"):
        CheckpointPaths.from_root(checkpoint_copy).validate()


def test_sharded_weights_with_a_missing_shard_are_named(checkpoint_copy):
    folder = checkpoint_copy / "CogVideoX1.5-5B/transformer"
    shard = folder / "diffusion_pytorch_model-00001-of-00002.safetensors"
    (folder / "diffusion_pytorch_model.safetensors").rename(shard)
    index = {"weight_map": {"a": "diffusion_pytorch_model-00001-of-00002.safetensors",
                            "b": "diffusion_pytorch_model-00002-of-00002.safetensors"}}
    (folder / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="00002-of-00002"):
        CheckpointPaths.from_root(checkpoint_copy).validate()


def test_wrong_controlnet_class_is_reported(checkpoint_copy):
    config = checkpoint_copy / "Vivid-VR/controlnet/config.json"
    values = json.loads(config.read_text())
    values["_class_name"] = "ControlNetModel"
    config.write_text(json.dumps(values))
    with pytest.raises(CheckpointError, match=r"'ControlNetModel' config, expected 'CogVideoXVividVRControlNetModel'"):
        CheckpointPaths.from_root(checkpoint_copy).validate()


def test_cogvideox_1_0_transformer_is_refused(checkpoint_copy):
    config = checkpoint_copy / "CogVideoX1.5-5B/transformer/config.json"
    values = json.loads(config.read_text())
    values["patch_size_t"] = None
    config.write_text(json.dumps(values))
    with pytest.raises(CheckpointError, match=r"CogVideoX 1\.0"):
        CheckpointPaths.from_root(checkpoint_copy).validate()


def test_corrupt_pt_file_is_reported_not_crashed(checkpoint_copy):
    (checkpoint_copy / "Vivid-VR/connectors.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match=r"connectors\.pt: not a readable PyTorch weights file"):
        load_models(CheckpointPaths.from_root(checkpoint_copy))


def test_mismatched_pt_file_is_reported(checkpoint_copy):
    path = checkpoint_copy / "Vivid-VR/control_patch_embed.pt"
    state = torch.load(path, weights_only=True)
    state["proj.weight"] = torch.zeros(3, 3)
    torch.save(state, path)
    does_not_fit = r"control_patch_embed\.pt: weights do not fit Vivid-VR's control_patch_embed"
    with pytest.raises(CheckpointError, match=does_not_fit):
        load_models(CheckpointPaths.from_root(checkpoint_copy))


def test_pickled_code_is_never_executed(checkpoint_copy, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"x": Exploit()}, checkpoint_copy / "Vivid-VR/control_feat_proj.pt")
    with pytest.raises(CheckpointError):
        load_models(CheckpointPaths.from_root(checkpoint_copy))
    assert not marker.exists()


def test_parts_can_come_from_their_own_paths(tmp_path, reference_checkpoints):
    moved = tmp_path / "elsewhere.pt"
    shutil.copy(reference_checkpoints / "Vivid-VR/connectors.pt", moved)
    paths = CheckpointPaths.from_root(reference_checkpoints, connectors=moved)
    assert paths.connectors == moved
    paths.validate()
