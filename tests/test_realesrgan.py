"""Real-ESRGAN: the published file format, strict loading, tiling, and the `realesrgan` engine.

The real weights cannot be downloaded here, so every network is randomly initialised and saved
exactly as the published files are: `torch.save({"params_ema" or "params": state_dict})`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vividvr_engine.engine import CancelToken, Progress
from vividvr_engine.engines import create_engine
from vividvr_engine.errors import Cancelled, CheckpointError, MediaError, SettingsError
from vividvr_engine.frame_engine import segment_length
from vividvr_engine.in_memory import ArrayClip, MemorySink
from vividvr_engine.planning import plan_windows
from vividvr_engine.realesrgan import (
    RealESRGAN,
    RRDBConfig,
    RRDBNet,
    frames_to_tensor,
    load_rrdbnet,
    realesrgan_path,
    resize_frames,
    tensor_to_frames,
)
from vividvr_engine.realesrgan_engine import RealESRGANEngine, choose_scale
from vividvr_engine.settings import RestoreSettings

PUBLISHED = {2: RRDBConfig(scale=2), 4: RRDBConfig(scale=4)}  # 23 blocks, 64 features, growth 32


def random_net(config: RRDBConfig, seed: int = 0) -> RRDBNet:
    """Random weights, with the output bias at mid-grey so few pixels clip and differences show."""
    torch.manual_seed(seed)
    net = RRDBNet(config).eval()
    with torch.no_grad():
        net.conv_last.bias.fill_(0.5)
    return net


def small(scale: int, num_block: int = 1) -> RRDBConfig:
    return RRDBConfig(scale=scale, num_feat=8, num_block=num_block, num_grow_ch=4)


def save_published(path: Path, **states: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(states, path)
    return path


def direct(net: RRDBNet, frame: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return tensor_to_frames(net(frames_to_tensor(frame)).clamp(0, 1))


def rng_frames(*shape: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((*shape, 3), dtype=np.float32)


# ------------------------------------------------------------------------------------ loading


@pytest.mark.parametrize(("scale", "key"), [(2, "params_ema"), (4, "params"), (2, "params"), (4, "params_ema")])
def test_published_files_load_with_architecture_read_from_their_shapes(tmp_path, scale, key):
    net = random_net(PUBLISHED[scale])
    path = save_published(realesrgan_path(tmp_path, scale), **{key: net.state_dict()})
    model = RealESRGAN.from_file(path, scale=scale, device="cpu")
    assert model.net.config == PUBLISHED[scale]
    frame = rng_frames(10, 12)
    out = model.upscale(frame)
    assert out.shape == (1, 10 * scale, 12 * scale, 3)
    np.testing.assert_allclose(out, direct(net, frame), atol=1e-5)


def test_params_ema_wins_over_params(tmp_path):
    ema, raw = random_net(small(2), seed=1), random_net(small(2), seed=2)
    path = save_published(tmp_path / "x2.pth", params=raw.state_dict(), params_ema=ema.state_dict())
    frame = rng_frames(8, 8)
    out = RealESRGAN.from_file(path, device="cpu").upscale(frame)
    np.testing.assert_allclose(out, direct(ema, frame), atol=1e-5)
    assert np.abs(out - direct(raw, frame)).max() > 1e-2


def test_wrong_scale_names_the_file_and_both_scales(tmp_path):
    path = save_published(realesrgan_path(tmp_path, 2), params_ema=random_net(small(4)).state_dict())
    with pytest.raises(CheckpointError, match=r"RealESRGAN_x2plus\.pth: holds a x4 network, expected x2"):
        load_rrdbnet(path, scale=2)


def test_foreign_architectures_are_refused_with_a_reason(tmp_path):
    compact = {"body.0.weight": torch.zeros(64, 3, 3, 3), "body.0.bias": torch.zeros(64)}  # SRVGGNet-like
    with pytest.raises(CheckpointError, match="not a Real-ESRGAN RRDBNet"):
        load_rrdbnet(save_published(tmp_path / "compact.pth", params_ema=compact))

    odd = random_net(small(4)).state_dict()
    odd["conv_first.weight"] = torch.zeros(8, 5, 3, 3)
    with pytest.raises(CheckpointError, match="5 input channels"):
        load_rrdbnet(save_published(tmp_path / "odd.pth", params_ema=odd))

    incomplete = random_net(small(2)).state_dict()
    del incomplete["conv_hr.weight"]
    with pytest.raises(CheckpointError, match=r"incomplete\.pth: weights do not fit.*conv_hr\.weight"):
        load_rrdbnet(save_published(tmp_path / "incomplete.pth", params_ema=incomplete))

    with pytest.raises(CheckpointError, match=r"no 'params_ema' or 'params'.*found: net"):
        load_rrdbnet(save_published(tmp_path / "bare.pth", net=random_net(small(2)).state_dict()))


class NotATensor:
    """Stands in for arbitrary pickled code, which weights_only loading must refuse."""


def test_corrupt_truncated_missing_and_unsafe_files_are_checkpoint_errors(tmp_path):
    good = save_published(tmp_path / "good.pth", params_ema=random_net(small(2)).state_dict())
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    unsafe = save_published(tmp_path / "unsafe.pth", params_ema=NotATensor())
    for path in (truncated, garbage, unsafe):
        with pytest.raises(CheckpointError, match=rf"{path.name}: not a readable PyTorch weights file"):
            load_rrdbnet(path)
    with pytest.raises(CheckpointError, match=r"missing\.pth: checkpoint file not found"):
        load_rrdbnet(tmp_path / "missing.pth")


# ------------------------------------------------------------------------------------- tiling


@pytest.mark.parametrize(("scale", "tile", "overlap"), [(2, 96, 80), (4, 56, 40)])
def test_tiled_equals_untiled_when_the_overlap_covers_the_receptive_field(scale, tile, overlap):
    # One RRDB: 17 chained 3x3 convs at trunk resolution, i.e. 17 input pixels at x4 and 34 at x2
    # (which unshuffles by 2), plus under 2 pixels of upsampling convs. Each tile keeps at least
    # overlap / 2 pixels of context, so these overlaps make every kept pixel exact.
    net = random_net(small(scale, num_block=1))
    calls = []
    net.conv_first.register_forward_hook(lambda *_: calls.append(1))
    frame = rng_frames(150, 231)
    whole = RealESRGAN(net, "cpu", tile=0).upscale(frame)
    calls.clear()
    tiled = RealESRGAN(net, "cpu", tile=tile, overlap=overlap).upscale(frame)
    assert len(calls) >= 6, "the frame should have been split into several tiles"
    assert tiled.shape == whole.shape == (1, 150 * scale, 231 * scale, 3)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (17, 9)])
def test_frames_smaller_than_a_tile_and_odd_sides_keep_their_exact_size(size):
    net = random_net(small(2))
    frame = rng_frames(*size)
    tiled = RealESRGAN(net, "cpu", tile=8, overlap=4).upscale(frame)
    whole = RealESRGAN(net, "cpu", tile=0).upscale(frame)
    assert tiled.shape == (1, size[0] * 2, size[1] * 2, 3)
    assert np.isfinite(tiled).all()
    if max(size) <= 8:
        np.testing.assert_allclose(tiled, whole, atol=1e-6)


@pytest.mark.parametrize(
    "frames",
    [np.zeros((4, 4, 4), np.float32), np.zeros((0, 4, 3), np.float32), np.zeros((4, 4, 3), np.uint8)],
    ids=["four-channels", "empty", "integer"],
)
def test_bad_frames_are_media_errors(frames):
    with pytest.raises(MediaError, match="frames must be"):
        RealESRGAN(random_net(small(2)), "cpu").upscale(frames)


@pytest.mark.parametrize(("tile", "overlap"), [(33, 8), (32, 3), (32, 32), (16, -2)])
def test_impossible_tiling_is_a_settings_error(tile, overlap):
    with pytest.raises(SettingsError, match="multiples of 2"):
        RealESRGAN(random_net(small(2)), "cpu", tile=tile, overlap=overlap)


# ------------------------------------------------------------------------------------- engine


def test_choose_scale_takes_the_smallest_model_that_reaches_the_factor():
    assert choose_scale([2, 4], 1.5) == 2
    assert choose_scale([4, 2], 2.0) == 2
    assert choose_scale([2, 4], 2.01) == 4
    assert choose_scale([2], 3.0) == 2
    assert choose_scale([4], 0.5) == 4


def test_segment_length_bounds_output_memory():
    assert segment_length(2160, 3840) == 2
    assert segment_length(48, 64) > 121
    assert segment_length(100_000, 100_000) == 1


@pytest.fixture
def x2_root(tmp_path) -> Path:
    save_published(realesrgan_path(tmp_path, 2), params_ema=random_net(small(2), seed=3).state_dict())
    return tmp_path


def settings(**values) -> RestoreSettings:
    return RestoreSettings(upscale=2, num_temporal_process_frames=9, **values)


def test_engine_streams_each_kept_frame_once_window_by_window(x2_root):
    frames = rng_frames(20, 24, 32)
    clip, sink = ArrayClip(frames), MemorySink()
    engine = create_engine("realesrgan", checkpoints=x2_root, device="cpu")
    engine.restore(clip, sink, settings())
    windows = plan_windows(20, 9)
    assert [first for first, _ in sink.segments] == [w.keep_start for w in windows]
    assert clip.reads == 20
    expected = RealESRGAN.from_file(realesrgan_path(x2_root, 2), device="cpu").upscale(frames)
    np.testing.assert_allclose(sink.frames, expected, atol=1e-6)


def test_engine_resumes_exactly_at_the_first_unwritten_frame(x2_root):
    frames = rng_frames(20, 24, 32)
    engine = create_engine("realesrgan", checkpoints=x2_root, device="cpu")
    full, resumed = MemorySink(), MemorySink()
    engine.restore(ArrayClip(frames), full, settings())
    clip = ArrayClip(frames)
    engine.restore(clip, resumed, settings(), first_unwritten_frame=7)
    assert resumed.segments[0][0] == 7
    assert clip.reads == 13
    np.testing.assert_array_equal(resumed.frames, full.frames[7:])
    engine.restore(ArrayClip(frames), done := MemorySink(), settings(), first_unwritten_frame=20)
    assert done.segments == []


def test_engine_splits_windows_into_bounded_segments(x2_root, monkeypatch):
    monkeypatch.setattr("vividvr_engine.frame_engine.SEGMENT_BYTES", 3 * 48 * 64 * 3 * 4)
    sink = MemorySink()
    create_engine("realesrgan", checkpoints=x2_root, device="cpu").restore(
        ArrayClip(rng_frames(20, 24, 32)), sink, settings()
    )
    bounds = {w.keep_start for w in plan_windows(20, 9)} | {20}
    for first, segment in sink.segments:
        assert len(segment) <= 3
        assert not any(first < b < first + len(segment) for b in bounds), "a segment crossed a window"
    assert len(sink.frames) == 20


def test_engine_cancel_keeps_finished_segments(x2_root):
    cancel = CancelToken()

    class CancellingSink(MemorySink):
        def write_segment(self, first, frames):
            super().write_segment(first, frames)
            cancel.cancel()

    sink = CancellingSink()
    engine = create_engine("realesrgan", checkpoints=x2_root, device="cpu")
    with pytest.raises(Cancelled):
        engine.restore(ArrayClip(rng_frames(20, 24, 32)), sink, settings(), cancel=cancel)
    assert len(sink.segments) == 1


def test_engine_progress_counts_frames_to_completion(x2_root):
    reports: list[Progress] = []
    engine = create_engine("realesrgan", checkpoints=x2_root, device="cpu")
    engine.restore(ArrayClip(rng_frames(20, 24, 32)), MemorySink(), settings(), reports.append)
    done = [p.frames_done for p in reports]
    fractions = [p.fraction for p in reports]
    assert done == sorted(done) and done[-1] == 20
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_engine_uses_x4_for_factors_above_two(tmp_path):
    x4 = random_net(small(4), seed=5)
    save_published(realesrgan_path(tmp_path, 2), params_ema=random_net(small(2)).state_dict())
    save_published(realesrgan_path(tmp_path, 4), params_ema=x4.state_dict())
    frames = rng_frames(3, 16, 20)
    sink = MemorySink()
    engine = RealESRGANEngine.create(checkpoints=tmp_path, device="cpu")
    engine.restore(ArrayClip(frames), sink, RestoreSettings(upscale=3))
    expected = tensor_to_frames(resize_frames(frames_to_tensor(direct(x4, frames)).contiguous(), (48, 60)))
    np.testing.assert_allclose(sink.frames, expected, atol=1e-5)


def test_engine_without_weights_says_which_files_it_needs(tmp_path):
    with pytest.raises(CheckpointError, match=r"no Real-ESRGAN weights found; expected RealESRGAN/RealESRGAN_x2plus"):
        create_engine("realesrgan", checkpoints=tmp_path)
    with pytest.raises(CheckpointError, match="needs a checkpoint folder"):
        create_engine("realesrgan", checkpoints=None)
    save_published(realesrgan_path(tmp_path, 4), params_ema=random_net(small(4)).state_dict())
    engine = create_engine("realesrgan", checkpoints=tmp_path)
    with pytest.raises(CheckpointError, match=r"text fix needs .*RealESRGAN_x2plus\.pth: file not found"):
        engine.restore(ArrayClip(rng_frames(2, 8, 8)), MemorySink(), settings(textfix=True))


def test_engine_reports_a_clip_that_ends_early(x2_root):
    class ShortClip(ArrayClip):
        def frames(self, start=0):
            yield from list(super().frames(start))[:5]

    with pytest.raises(MediaError, match="ended at frame 5 of the 12"):
        create_engine("realesrgan", checkpoints=x2_root, device="cpu").restore(
            ShortClip(rng_frames(12, 24, 32)), MemorySink(), settings()
        )
