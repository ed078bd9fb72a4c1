"""One clip over several CPU worker processes: bit-identical to one process, resumable with any
worker count, failing cleanly when a worker dies, and refusing bad --devices before loading."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vividvr_engine import distributed
from vividvr_engine.distributed import DistributedError
from vividvr_engine.errors import SettingsError
from vividvr_engine.in_memory import ArrayClip, MemorySink
from vividvr_engine.pipeline import ClipInfo, VividVREngine, plan_step_batches
from vividvr_engine.planning import plan_latent_ownership, plan_windows
from vividvr_engine.settings import RestoreSettings
from vividvr_engine.sharding import plan_batches, plan_exchange, plan_sharding

ROOT = Path(__file__).resolve().parents[1]
# The shared `long` case's settings (../shared/reference/vectors/long.json), on a 25-frame 32x48 clip
# (two windows of two tiles: the case's own 33 frames add a third window and minutes on a shared CPU).
LONG = dict(num_inference_steps=3, guidance_scale=6.0, restoration_guidance_scale=0.5, upscale=2.0, tile_size=8,
            num_temporal_process_frames=17, seed=42, caption="a man walking on a city street at night")


@pytest.fixture(scope="module")
def engine(reference_checkpoints):
    return VividVREngine.create(reference_checkpoints, "cpu")


@pytest.fixture(scope="module")
def long_single(engine) -> np.ndarray:
    """The `long` settings on one process: what every worker count must reproduce."""
    return restore(engine, clip_of(25, 32, 48), RestoreSettings(**LONG), 1)


def clip_of(frames: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(frames).random((frames, height, width, 3), dtype=np.float32)


def restore(engine, frames: np.ndarray, settings: RestoreSettings, workers: int, **kwargs) -> np.ndarray:
    sink = MemorySink()
    engine.restore(ArrayClip(frames, fps=24), sink, settings, devices=["cpu"] * workers, **kwargs)
    return sink.frames


# ------------------------------------------------------------------------------- planning


def test_every_worker_ends_a_step_knowing_each_window_it_touches_whole():
    windows = plan_windows(40, 17)
    ownership = plan_latent_ownership(windows, 17)
    units = [((w.index, t), (w.latent_frames, 8, 8)) for w in windows for t in range(10)]
    for world in (1, 2, 3, 7, 40):
        sharding = plan_sharding(plan_batches(units, 1), world)
        plan = plan_exchange(sharding, ownership)
        evaluator = sharding.evaluator()
        for rank in range(world):
            touched = sharding.touched(rank)
            known_tiles = {u for u, r in evaluator.items() if r == rank}
            known_tiles |= {(p.window, p.index) for (_s, d), ps in plan.items() if d == rank for p in ps
                            if p.kind == "tile"}
            assert {(w, t) for w in touched for t in range(10)} <= known_tiles
            frames = {(p.window, p.index) for (_s, d), ps in plan.items() if d == rank for p in ps if p.kind == "frame"}
            for window in touched:
                for copy in ownership[window]:
                    assert copy.owner in touched or (copy.owner, copy.owner_local) in frames
        sent_tiles = sum(p.kind == "tile" for ps in plan.values() for p in ps)
        assert world > 1 or sent_tiles == 0


def test_batches_never_mix_shapes_and_keep_draw_order():
    units = [((0, 0), (6, 8, 8)), ((0, 1), (6, 8, 4)), ((1, 0), (6, 8, 8)), ((1, 1), (6, 8, 8)), ((2, 0), (4, 8, 8))]
    assert plan_batches(units, 4) == [[(0, 0)], [(0, 1)], [(1, 0), (1, 1)], [(2, 0)]]
    assert plan_batches(units, 1) == [[u] for u, _ in units]


# ------------------------------------------------------------------------------- bad input


def test_devices_that_cannot_be_used_are_refused_with_the_reason():
    with pytest.raises(SettingsError, match="not a device"):
        distributed.parse_devices("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(SettingsError, match="no usable CUDA"):
            distributed.parse_devices("cuda:0,cuda:1")
    assert distributed.parse_devices("cpu, cpu") == ["cpu", "cpu"]


def test_a_gpu_named_twice_or_missing_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the rule, on a machine without GPUs
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(SettingsError, match="cuda:0 listed more than once"):
        distributed.parse_devices("cuda:0,cuda:0")
    with pytest.raises(SettingsError, match="cuda:2 does not exist; this machine has 2 GPU"):
        distributed.parse_devices("cuda:0,cuda:2")
    with pytest.raises(SettingsError, match="either GPUs or CPUs"):
        distributed.parse_devices("cuda:0,cpu")
    assert distributed.parse_devices("cuda:1,cuda:0") == ["cuda:1", "cuda:0"]


def test_more_workers_than_batches_run_fewer_and_say_so(caplog):
    settings = RestoreSettings(**LONG)
    batches = plan_step_batches(ClipInfo(1, 16, 16, 24), settings, 1)
    assert len(batches) == 1
    with caplog.at_level("WARNING"):
        assert distributed.usable_devices(["cpu"] * 3, len(batches)) == ["cpu"]
    assert "running 1 worker" in caplog.text


def shared_movie() -> Path:
    clip = ROOT.parent / "shared" / "assets" / "video" / "seedvr2__Eyes_212x120.mp4"
    if not clip.exists():
        pytest.skip(f"needs {clip}")
    return clip


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cli_refuses_cuda_devices_without_cuda_before_loading_models(tmp_path, capsys):
    from vividvr_cli.main import main

    code = main(["restore", str(shared_movie()), "--output", str(tmp_path / "o.mov"), "--devices", "cuda:0,cuda:1",
                 "--checkpoints", str(tmp_path / "no-checkpoints-here")])
    assert code == 2
    assert "no usable CUDA GPU" in capsys.readouterr().err


def test_cli_refuses_a_taken_rendezvous_port_before_loading_models(tmp_path, monkeypatch, capsys):
    from vividvr_cli.main import main

    clip = shared_movie()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("MASTER_PORT", str(taken.getsockname()[1]))
        code = main(["restore", str(clip), "--output", str(tmp_path / "o.mov"), "--devices", "cpu,cpu",
                     "--checkpoints", str(tmp_path / "no-checkpoints-here"), "--frames", "0-20"])
    assert code != 0
    assert "is in use" in capsys.readouterr().err  # not the missing checkpoints: nothing was loaded


# ------------------------------------------------------------------------------- identity


def test_long_case_settings_give_the_same_bits_on_1_2_and_3_workers(engine, long_single):
    assert long_single.shape == (25, 64, 96, 3)
    for workers in (2, 3):
        np.testing.assert_array_equal(restore(engine, clip_of(25, 32, 48), RestoreSettings(**LONG), workers),
                                      long_single)


def test_forty_frames_of_ten_tiles_give_the_same_bits_on_1_2_and_3_workers(engine):
    # 48x96 at 2x: 12x24 latents, 2x5 tiles of 8; 40 frames in windows of 33: 2 windows, 20 units.
    settings = RestoreSettings(num_inference_steps=1, guidance_scale=1.0, upscale=2.0, tile_size=8,
                               num_temporal_process_frames=33, seed=5, caption="a street")
    frames = clip_of(40, 48, 96)
    assert len(plan_step_batches(ClipInfo(40, 48, 96, 24), settings, 1)) == 20
    single = restore(engine, frames, settings, 1)
    for workers in (2, 3):
        np.testing.assert_array_equal(restore(engine, frames, settings, workers), single)


def test_one_frame_of_ten_tiles_gives_the_same_bits_on_1_2_and_3_workers(engine):
    settings = RestoreSettings(num_inference_steps=2, upscale=2.0, tile_size=8, num_temporal_process_frames=9,
                               seed=5, caption="a street")
    one = clip_of(1, 48, 96)
    single = restore(engine, one, settings, 1)
    assert single.shape == (1, 96, 192, 3)
    for workers in (2, 3):
        np.testing.assert_array_equal(restore(engine, one, settings, workers), single)


# ------------------------------------------------------------------------------- failure


def test_killed_two_worker_run_resumes_on_three_workers_to_the_same_bits(
    engine, long_single, reference_checkpoints, tmp_path
):
    frames = clip_of(25, 32, 48)
    settings = RestoreSettings(**LONG)
    np.save(tmp_path / "clip.npy", frames)
    state = tmp_path / "state"
    command = [sys.executable, str(ROOT / "tests" / "distributed_job.py"), str(tmp_path / "clip.npy"),
               str(tmp_path / "out.npy"), str(state), "2", json.dumps(LONG), str(reference_checkpoints)]
    job = subprocess.Popen(command, cwd=ROOT)
    manifest = state / "manifest.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and job.poll() is None:
        if manifest.exists() and json.loads(manifest.read_text()).get("steps_done", 0) >= 1:
            break
        time.sleep(0.1)
    assert job.poll() is None, "the job ended before it could be killed"
    job.kill()
    job.wait()
    workers = [int(p) for p in (tmp_path / "workers.txt").read_text().split()]
    assert len(workers) == 1
    _wait_gone(workers, 30)  # no orphan: the worker notices its rank 0 is gone and exits
    steps_done = json.loads(manifest.read_text())["steps_done"]
    assert 1 <= steps_done < settings.num_inference_steps
    np.testing.assert_array_equal(restore(engine, frames, settings, 3, state_dir=state), long_single)


def test_a_killed_worker_fails_the_job_quickly_and_leaves_no_process(engine):
    frames = clip_of(25, 32, 48)
    killed = []

    def kill_a_worker(progress) -> None:
        if progress.phase == "denoise" and not killed:
            victim = multiprocessing.active_children()[0]
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)

    started = time.monotonic()
    with pytest.raises(DistributedError, match=r"worker 1 died \(exit code -9\)"):
        engine.restore(ArrayClip(frames, fps=24), MemorySink(), RestoreSettings(**LONG), kill_a_worker,
                       devices=["cpu", "cpu"])
    assert time.monotonic() - started < 120
    assert killed and not multiprocessing.active_children()


def _wait_gone(pids: list[int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            status = Path(f"/proc/{pid}/stat")
            try:
                if status.read_text().split(")")[-1].split()[0] != "Z":  # a zombie has exited
                    alive.append(pid)
            except FileNotFoundError:
                pass
        if not alive:
            return
        time.sleep(0.2)
    raise AssertionError(f"worker processes {alive} outlived their job")


def test_cancelling_a_two_worker_job_stops_every_worker_as_cancelled(engine):
    from vividvr_engine.engine import CancelToken
    from vividvr_engine.errors import Cancelled

    cancel = CancelToken()
    settings = RestoreSettings(num_inference_steps=2, upscale=2.0, tile_size=8, num_temporal_process_frames=9,
                               caption="a street")

    def cancel_on_denoise(progress) -> None:
        if progress.phase == "denoise":
            cancel.cancel()

    with pytest.raises(Cancelled):
        engine.restore(ArrayClip(clip_of(1, 16, 48), fps=24), MemorySink(), settings, cancel_on_denoise,
                       cancel=cancel, devices=["cpu", "cpu"])
    assert not multiprocessing.active_children()
