"""Resuming the diffusion engine: after SIGKILL, from unusable state, and never from another job's state."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from media_patterns import write_exr_sequence, write_movie

from vividvr_client.timecode import FrameRange
from vividvr_engine import latent_store, pipeline
from vividvr_engine.checkpoints import CheckpointPaths, load_models
from vividvr_engine.engine import CancelToken
from vividvr_engine.engines import create_engine
from vividvr_engine.errors import Cancelled
from vividvr_engine.in_memory import ArrayClip, MemorySink
from vividvr_engine.restore_job import RestoreJobSpec, restore_clip
from vividvr_engine.settings import RestoreSettings

STEPS = 2
CLI_SETTINGS = ["--steps", str(STEPS), "--upscale", "1", "--tile-size", "8", "--window-frames", "9", "--seed", "3"]
SETTINGS = RestoreSettings(
    num_inference_steps=STEPS, upscale=1, tile_size=8, num_temporal_process_frames=9, seed=3, caption="a test card"
)


def steps_done(manifest: Path) -> int:
    try:
        return int(json.loads(manifest.read_text())["steps_done"])
    except (OSError, ValueError, KeyError):
        return 0


def restore_command(source: Path, output: Path, state: Path, checkpoints: Path) -> list[str]:
    return [
        sys.executable, "-m", "vividvr_cli.main", "restore", str(source), "-o", str(output), "--format", "png16",
        "--engine", "vividvr", "--checkpoints", str(checkpoints), "--device", "cpu", "--state-dir", str(state),
        "--caption", "a test card", "--json", *CLI_SETTINGS,
    ]


def test_a_diffusion_restore_killed_after_a_step_resumes_to_identical_files(tmp_path, reference_checkpoints):
    source = write_movie(tmp_path / "plate.mov", "mjpeg", Fraction(24), 3, size=(48, 32), pix_fmt="yuvj420p")
    state = tmp_path / "state"
    command = restore_command(source, tmp_path / "a" / "out.####.png", state, reference_checkpoints)
    manifest = state / "engine" / "manifest.json"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while process.poll() is None and steps_done(manifest) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed mid-denoising"
    killed_at = steps_done(manifest)
    assert 1 <= killed_at < STEPS
    assert not list((tmp_path / "a").glob("out.*.png"))

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    events = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert not any(e.get("phase") == "encode" for e in events)  # nothing prepared twice
    assert min(e["step"] for e in events if e.get("phase") == "denoise") == killed_at

    fresh = restore_clip(
        RestoreJobSpec(str(source), str(tmp_path / "b" / "out.####.png"), None, format="png16"),
        create_engine("vividvr", reference_checkpoints, "cpu"),
        SETTINGS,
    )
    ours = sorted((tmp_path / "a").glob("out.*.png"))
    assert [p.name for p in ours] == [Path(p).name for p in fresh.outputs] and len(ours) == 3
    for mine, theirs in zip(ours, fresh.outputs, strict=True):
        assert mine.read_bytes() == Path(theirs).read_bytes(), f"{mine.name} differs from an uninterrupted run"


# ------------------------------------------------------------------------------- in process


@pytest.fixture(scope="module")
def engine(reference_checkpoints):
    return pipeline.VividVREngine(load_models(CheckpointPaths.from_root(reference_checkpoints)))


def clip() -> ArrayClip:
    return ArrayClip(np.random.default_rng(5).random((5, 16, 16, 3), dtype=np.float32), fps=24)


def run(engine, state: Path | None = None, progress=None) -> np.ndarray:  # type: ignore[no-untyped-def]
    sink = MemorySink()
    engine.restore(clip(), sink, SETTINGS, progress, state_dir=state)
    return sink.frames


def stop_after_first_step(engine, state: Path) -> None:  # type: ignore[no-untyped-def]
    cancel = CancelToken()

    def progress(p):  # type: ignore[no-untyped-def]
        if p.phase == "denoise" and p.step == 1:
            cancel.cancel()

    with pytest.raises(Cancelled):
        engine.restore(clip(), MemorySink(), SETTINGS, progress, state_dir=state, cancel=cancel)
    assert steps_done(state / "manifest.json") == 1


def corrupt_manifest(state: Path) -> None:
    (state / "manifest.json").write_text('{"fingerprint": ')


def truncate_a_slot(state: Path) -> None:
    slot = state / "window0.slot1.safetensors"
    slot.write_bytes(slot.read_bytes()[:-64])


def drop_the_generator(state: Path) -> None:
    manifest = json.loads((state / "manifest.json").read_text())
    manifest["generator"] = [1, 2, 3]
    (state / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage", [corrupt_manifest, truncate_a_slot, drop_the_generator])
def test_unusable_saved_state_restarts_cleanly_with_a_warning(engine, tmp_path, caplog, damage):
    expected = run(engine)
    state = tmp_path / "state"
    stop_after_first_step(engine, state)
    damage(state)
    seen = []
    with caplog.at_level(logging.WARNING, logger="vividvr.engine"):
        again = run(engine, state, seen.append)
    np.testing.assert_array_equal(again, expected)
    assert any("saved state cannot be used" in r.getMessage() for r in caplog.records)
    assert any(p.phase == "encode" for p in seen)  # started over
    # and the state it wrote is good again: a further resume uses it without a warning
    caplog.clear()
    assert steps_done(state / "manifest.json") == STEPS
    with caplog.at_level(logging.WARNING, logger="vividvr.engine"):
        np.testing.assert_array_equal(run(engine, state), expected)
    assert not caplog.records


def resume_point(engine, state: Path) -> tuple[str, dict]:
    """(fingerprint, manifest) a restore of `clip()` with SETTINGS would start from."""
    store = latent_store.LatentStore(state, 1 << 30, persistent=True)
    try:
        fingerprint = pipeline._fingerprint(clip(), SETTINGS, engine)
        windows = len(pipeline.plan_windows(clip().num_frames, SETTINGS.num_temporal_process_frames))
        return fingerprint, pipeline._resume_point(store, fingerprint, SETTINGS, windows)
    finally:
        store.close()


@pytest.mark.parametrize(
    "change",
    [
        lambda mp: mp.setattr(pipeline, "engine_source_digest", lambda: "another version of the engine"),
        lambda mp: mp.setattr(pipeline, "_device_model", lambda device: "cuda:NVIDIA H200"),
        lambda mp: mp.setattr(pipeline, "plan_tiles_2d", lambda h, w, size, stride: []),
    ],
    ids=["code", "device", "plan"],
)
def test_state_saved_by_other_code_another_device_or_another_plan_is_not_resumed(engine, tmp_path, monkeypatch,
                                                                                 change):
    state = tmp_path / "state"
    stop_after_first_step(engine, state)
    before_fingerprint, before = resume_point(engine, state)
    change(monkeypatch)
    after_fingerprint, after = resume_point(engine, state)
    assert before["steps_done"] == 1  # unchanged: resumes
    assert after_fingerprint != before_fingerprint and after["steps_done"] == 0


def test_the_dtype_is_part_of_the_saved_state_identity(engine, tmp_path):
    state = tmp_path / "state"
    stop_after_first_step(engine, state)
    first, _manifest = resume_point(engine, state)
    engine.dtype, saved = torch.float64, engine.dtype
    try:
        assert resume_point(engine, state)[0] != first
    finally:
        engine.dtype = saved


def test_a_re_rendered_sequence_frame_restarts_instead_of_resuming(tmp_path, reference_checkpoints):
    plate = write_exr_sequence(tmp_path / "src", 1001, 3, size=(16, 16))
    state = tmp_path / "state"
    engine = create_engine("vividvr", reference_checkpoints, "cpu")
    cancel = CancelToken()

    def stop(p):  # type: ignore[no-untyped-def]
        if p.phase == "denoise" and p.step == 1:
            cancel.cancel()

    spec = RestoreJobSpec(str(plate), str(tmp_path / "a" / "out.####.exr"), FrameRange(1001, 1003))
    with pytest.raises(Cancelled):
        restore_clip(spec, engine, SETTINGS, stop, cancel=cancel, state_dir=state)
    # frame 1003 is re-rendered (first frame, size and settings unchanged)
    write_exr_sequence(tmp_path / "new", 1001, 3, size=(16, 16), gain=0.5)
    (tmp_path / "new" / "plate.1003.exr").replace(tmp_path / "src" / "plate.1003.exr")
    seen = []
    resumed = restore_clip(spec, engine, SETTINGS, seen.append, state_dir=state)
    assert any(p.phase == "encode" for p in seen), "state from the old frame 1003 was resumed"
    fresh = restore_clip(RestoreJobSpec(str(plate), str(tmp_path / "b" / "out.####.exr"), FrameRange(1001, 1003)),
                         engine, SETTINGS)
    for ours, theirs in zip(resumed.outputs, fresh.outputs, strict=True):
        assert Path(ours).read_bytes() == Path(theirs).read_bytes()


def test_slot_files_reach_the_disk_before_the_manifest_names_them(tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        real_fsync(fd)

    def replace(src, dst) -> None:  # type: ignore[no-untyped-def]
        events.append(("replace", os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(latent_store.os, "fsync", fsync)
    monkeypatch.setattr(latent_store.os, "replace", replace)
    store = latent_store.LatentStore(tmp_path / "state", ram_budget_bytes=1 << 30, persistent=True)
    store.write("window0.slot1", {"latents": torch.zeros(4)})
    store.commit({"steps_done": 1})
    assert events == [
        ("fsync", "window0.slot1.safetensors.tmp"),
        ("replace", "window0.slot1.safetensors"),
        ("fsync", "state"),  # the slot's rename is durable ...
        ("fsync", "manifest.json.tmp"),
        ("replace", "manifest.json"),  # ... before the manifest that names it
        ("fsync", "state"),
    ]
