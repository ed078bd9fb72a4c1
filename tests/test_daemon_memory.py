"""The daemon's memory estimate: weights read from the configured checkpoint headers, activations
from the job's geometry, and a refusal that names the settings that would make the job fit."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from published_checkpoints import published_manifest, write_header_only, write_published_tree

from vividvr_daemon import memory
from vividvr_engine.settings import RestoreSettings

TINY = Path(__file__).parents[1].parent / "shared" / "reference" / "checkpoints"
needs_tiny = pytest.mark.skipif(not TINY.is_dir(), reason="../shared/reference/checkpoints is absent")
GB24 = 24 * 10**9


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> memory.ModelSize:
    return memory.read_model(write_published_tree(tmp_path_factory.mktemp("published") / "checkpoints"))


def _parameters(part: str) -> int:
    return sum(math.prod(shape) for _name, shape in published_manifest()["parts"][part]["tensors"])


def test_published_sizes_come_from_the_headers_alone(published: memory.ModelSize) -> None:
    # the files hold headers only: reading any tensor data would fail
    assert published.transformer == _parameters("CogVideoX1.5-5B/transformer") > 5.5e9
    assert published.text_encoder == _parameters("CogVideoX1.5-5B/text_encoder") > 4.7e9  # T5-XXL, 2 shards
    assert published.controlnet == _parameters("Vivid-VR/controlnet")
    assert (published.hidden, published.controlnet_blocks, published.vae_channels) == (3072, 6, 128)


def test_published_model_at_1024_square_121_frames_is_refused_on_a_24_gb_gpu_with_advice(
    published: memory.ModelSize,
) -> None:
    settings = RestoreSettings(upscale=1.0)
    need = memory.estimate("vividvr", settings, 1024, 1024, 121, "cuda:0", published)
    weights_bf16 = (published.transformer + published.controlnet + published.text_encoder + published.vae) * 2
    assert need.bytes > weights_bf16 > 20 * memory.GIB
    message = memory.refusal(need, GB24, "cuda:0", settings)
    assert message is not None
    for flag in ("--offload model", "--tile-size", "--window-frames"):
        assert flag in message
    assert "tile_size (now 128)" in message and "num_temporal_process_frames (now 121)" in message


def test_offload_smaller_tiles_and_shorter_windows_each_lower_the_estimate(published: memory.ModelSize) -> None:
    def need(**changes: object) -> memory.Estimate:
        return memory.estimate("vividvr", RestoreSettings(upscale=1.0, **changes), 1024, 1024, 121, "cuda:0", published)

    base = need()
    offloaded = need(offload="model")
    assert offloaded.bytes < base.bytes and "offload" not in offloaded.knobs
    assert need(tile_size=64).bytes < base.bytes
    assert need(offload="model", tile_size=32, num_temporal_process_frames=33).bytes < offloaded.bytes
    assert need(guidance_scale=1.0).bytes < base.bytes  # no classifier-free guidance: half the batch


def test_the_cpu_runs_float32_and_offload_changes_nothing_there(published: memory.ModelSize) -> None:
    settings = RestoreSettings(upscale=1.0)
    gpu = memory.estimate("vividvr", settings, 512, 512, 33, "cuda:0", published)
    cpu = memory.estimate("vividvr", settings, 512, 512, 33, "cpu", published)
    offload = RestoreSettings(upscale=1.0, offload="model")
    cpu_offload = memory.estimate("vividvr", offload, 512, 512, 33, "cpu", published)
    assert cpu.bytes > 1.9 * gpu.bytes and cpu_offload.bytes == cpu.bytes and "offload" not in cpu.knobs


@needs_tiny
def test_the_tiny_test_checkpoints_need_a_few_hundred_megabytes() -> None:
    model = memory.read_model(TINY)
    settings = RestoreSettings(upscale=2.0, tile_size=16, num_temporal_process_frames=17)
    need = memory.estimate("vividvr", settings, 64, 96, 40, "cpu", model)
    assert need.bytes < 256 * 1024**2
    assert memory.refusal(need, 1 * memory.GIB, "cpu", settings) is None


def test_a_missing_shard_or_a_file_that_is_no_safetensors_is_named(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "model-1.safetensors"}}))
    with pytest.raises(memory.CheckpointUnreadable, match=r"model-1\.safetensors"):
        memory.weights_parameters(tmp_path, "model")
    (tmp_path / "x.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(memory.CheckpointUnreadable, match=r"x\.safetensors"):
        memory.weights_parameters(tmp_path, "x")
    write_header_only(tmp_path / "y.safetensors", [["w", [3, 4]], ["b", [4]]])
    assert memory.weights_parameters(tmp_path, "y") == 16


def test_an_uncaptioned_job_counts_the_captioner_resident_and_suggests_a_caption(published: memory.ModelSize) -> None:
    with_captioner = replace(published, captioner=12_500_000_000)  # CogVLM2-Video's parameters, in bf16
    uncaptioned = memory.estimate("vividvr", RestoreSettings(upscale=1.0), 1024, 1024, 121, "cuda:0", with_captioner)
    captioned = memory.estimate(
        "vividvr", RestoreSettings(upscale=1.0, caption="a cat"), 1024, 1024, 121, "cuda:0", with_captioner
    )
    assert uncaptioned.bytes - captioned.bytes == 12_500_000_000 * memory.BF16
    message = memory.refusal(uncaptioned, captioned.bytes, "cuda:0", RestoreSettings(upscale=1.0))
    assert message is not None and "give a caption" in message and "--caption TEXT" in message
    assert "caption" not in captioned.knobs
