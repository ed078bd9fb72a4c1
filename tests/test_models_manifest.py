"""The shipped manifest's derivation, and the quick checks the engine runs before loading anything."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from vividvr_engine.checkpoint_verify import check, under
from vividvr_engine.checkpoints import CheckpointPaths
from vividvr_engine.errors import CheckpointError
from vividvr_engine.published import REQUIRED, manifest
from vividvr_engine.published_shapes import expected_tensors
from vividvr_engine.weights_check import tensor_specs, weight_set_files

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "checkpoints"
pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/reference/checkpoints")
CONFIGS = {
    "transformer": "CogVideoX1.5-5B/transformer/config.json",
    "vae": "CogVideoX1.5-5B/vae/config.json",
    "text_encoder": "CogVideoX1.5-5B/text_encoder/config.json",
    "controlnet": "Vivid-VR/controlnet/config.json",
}


def test_deriving_from_the_tiny_configs_reproduces_the_tiny_files_tensor_for_tensor() -> None:
    configs = {k: json.loads((REFERENCE / p).read_text()) for k, p in CONFIGS.items()}

    derived = expected_tensors(configs, torch.float32)

    for weight_set, specs in derived.items():
        folder, stem = (REFERENCE / weight_set).parent, (REFERENCE / weight_set).name
        files = [REFERENCE / weight_set] if stem.endswith(".pt") else weight_set_files(folder, stem)
        found = {n: s for f in files for n, s in tensor_specs(f).items()}
        assert {n: s[0] for n, s in found.items()} == {n: s["shape"] for n, s in specs.items()}, weight_set
        if specs[next(iter(specs))]["dtype"] is not None:
            assert {s[1] for s in found.values()} == {"F32"}


def test_the_manifest_covers_every_weight_file_the_engine_loads_at_the_published_width() -> None:
    weights = manifest()["weights"]
    loaded = {r.path for r in REQUIRED["vividvr"] if r.kind in ("weights", "pt")}
    assert loaded == set(weights)
    transformer = weights["CogVideoX1.5-5B/transformer/diffusion_pytorch_model"]["tensors"]
    assert transformer["norm_final.weight"]["shape"] == [3072]
    assert "transformer_blocks.41.attn1.to_q.weight" in transformer
    assert "transformer_blocks.42.attn1.to_q.weight" not in transformer
    assert weights["CogVideoX1.5-5B/text_encoder/model"]["tensors"]["shared.weight"]["shape"] == [32128, 4096]
    controlnet = weights["Vivid-VR/controlnet/diffusion_pytorch_model"]["tensors"]
    assert "transformer_blocks.5.attn1.to_q.weight" in controlnet
    assert "transformer_blocks.6.attn1.to_q.weight" not in controlnet


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(REFERENCE, tmp_path / "checkpoints")
    return tmp_path / "checkpoints"


def test_a_truncated_weight_file_is_named_before_anything_loads(tree: Path) -> None:
    weights = tree / "Vivid-VR/controlnet/diffusion_pytorch_model.safetensors"
    size = weights.stat().st_size
    with weights.open("r+b") as stream:
        stream.truncate(size // 2)

    expected = rf"{weights} is truncated: {size // 2} bytes, its header describes {size}"
    with pytest.raises(CheckpointError, match=expected):
        CheckpointPaths.from_root(tree).validate()


def test_a_cut_off_pt_file_is_named(tree: Path) -> None:
    connectors = tree / "Vivid-VR/connectors.pt"
    connectors.write_bytes(connectors.read_bytes()[:1000])

    (finding,) = check(["vividvr"], under(tree))
    assert finding.path == connectors and "not a readable PyTorch weights file" in finding.line()
    assert "huggingface.co/csbhr/Vivid-VR" in finding.line()


def test_quick_check_accepts_the_tiny_tree_which_only_the_thorough_check_rejects() -> None:
    assert check(["vividvr"], under(REFERENCE)) == []
    rejected = {f.required.path for f in check(["vividvr"], under(REFERENCE), thorough=True) if not f.note}
    assert rejected == {r.path for r in REQUIRED["vividvr"] if r.kind in ("weights", "pt")}  # all seven


def test_release_files_are_checked_by_their_published_size(tmp_path: Path) -> None:
    x2 = tmp_path / "RealESRGAN/RealESRGAN_x2plus.pth"
    x2.parent.mkdir()
    x2.write_bytes(b"\0" * 1000)

    lines = [f.line() for f in check(["realesrgan"], under(tmp_path))]

    assert f"{x2} is 1000 bytes, the published file 67061725" in lines[0]
    assert "releases/download/v0.2.1/RealESRGAN_x2plus.pth" in lines[0]
    assert lines[1].startswith(f"missing {tmp_path / 'RealESRGAN/RealESRGAN_x4plus.pth'}")
