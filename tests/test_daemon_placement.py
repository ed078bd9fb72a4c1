"""Where jobs run: one job per device by default, or one job over every idle device on request;
what the daemon says about it; and its memory estimate from the configured checkpoints."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import grpc
import pytest
import recording_engine
from daemon_support import PREVIEW, config_for, make_media, request_for, start_daemon
from media_patterns import write_movie
from published_checkpoints import write_published_tree

from vividvr_client.client import DaemonClient, DaemonError, make_request, pb
from vividvr_daemon.config import ConfigError
from vividvr_daemon.server import Daemon
from vividvr_engine.engines import ENGINES

TINY = Path(__file__).parents[1].parent / "shared" / "reference" / "checkpoints"
TINY_VIVIDVR = {"num_inference_steps": 1, "upscale": 0.5, "tile_size": 8, "num_temporal_process_frames": 9,
                "caption": "a test clip"}


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    monkeypatch.setitem(ENGINES, "recording", "recording_engine:RecordingEngine")
    monkeypatch.setattr(recording_engine, "CALLS", [])
    return recording_engine.CALLS


def _request(movie: Path, root: Path, name: str, placement: int = pb.PLACEMENT_UNSPECIFIED) -> pb.RestoreRequest:
    return make_request(str(movie), str(root / "out"), name, frames="0-19", engine="recording", settings=PREVIEW,
                        output_format="png16", placement=placement)


def _ended(client: DaemonClient, job_id: str) -> pb.RestoreEvent:
    return list(client.watch(job_id))[-1]


def _running(client: DaemonClient, job_id: str) -> pb.Job:
    deadline = time.monotonic() + 20
    while (job := client.get(job_id)).state != pb.JOB_STATE_RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
    return job


def test_by_default_each_device_takes_its_own_job(tmp_path: Path, recording: list) -> None:
    daemon = start_daemon(tmp_path, devices=("cpu", "cpu"), test_segment_delay_seconds=0.3)
    movie = make_media(tmp_path, frames=20)
    try:
        with DaemonClient(daemon.address) as client:
            jobs = [client.submit(_request(movie, tmp_path, f"{n}.####.png")).job_id for n in "ab"]
            running = [_running(client, job) for job in jobs]
            assert all(len(job.devices) == 1 for job in running)  # both at once, one device each
            status = client.status()
            assert sorted(d.running_job_id for d in status.devices) == sorted(jobs)
            assert all(_ended(client, job).WhichOneof("kind") == "completed" for job in jobs)
        assert recording == [(), ()]  # a one-device job passes no device list
    finally:
        daemon.stop()


def test_a_split_request_holds_every_idle_device_and_the_engine_gets_them_all(tmp_path: Path, recording: list) -> None:
    daemon = start_daemon(tmp_path, devices=("cpu", "cpu"), test_segment_delay_seconds=0.3)
    movie = make_media(tmp_path, frames=20)
    try:
        with DaemonClient(daemon.address) as client:
            job_id = client.submit(_request(movie, tmp_path, "s.####.png", pb.PLACEMENT_ALL_IDLE_DEVICES)).job_id
            job = _running(client, job_id)
            assert list(job.devices) == ["cpu", "cpu"] and job.device == "cpu"
            assert [d.running_job_id for d in client.status().devices] == [job_id, job_id]
            history = list(client.watch(job_id))
        started = next(e.started for e in history if e.WhichOneof("kind") == "started")
        assert list(started.devices) == ["cpu", "cpu"]
        assert history[-1].WhichOneof("kind") == "completed"
        assert recording == [("cpu", "cpu")]
    finally:
        daemon.stop()


def test_a_split_job_waits_while_no_device_is_idle_then_takes_those_that_are(tmp_path: Path, recording: list) -> None:
    daemon = start_daemon(tmp_path, devices=("cpu", "cpu"), placement="all_idle_devices",
                          test_segment_delay_seconds=0.3)
    movie = make_media(tmp_path, frames=20)
    try:
        with DaemonClient(daemon.address) as client:
            first = client.submit(_request(movie, tmp_path, "1.####.png")).job_id  # the daemon's default: split
            assert list(_running(client, first).devices) == ["cpu", "cpu"]
            second = client.submit(_request(movie, tmp_path, "2.####.png", pb.PLACEMENT_ONE_DEVICE)).job_id
            assert client.get(second).state == pb.JOB_STATE_QUEUED  # every device is held
            assert _ended(client, first).WhichOneof("kind") == "completed"
            assert len(_running(client, second).devices) == 1
            assert _ended(client, second).WhichOneof("kind") == "completed"
        assert recording == [("cpu", "cpu"), ()]
    finally:
        daemon.stop()


def test_a_device_that_does_not_exist_stops_the_daemon_before_it_starts(tmp_path: Path) -> None:
    for devices, message in ((("cuda:7",), "cuda:7 does not exist"), (("gpu0",), "not a device")):
        with pytest.raises(ConfigError, match=message):
            Daemon(config_for(tmp_path, devices=devices))


@pytest.mark.skipif(not TINY.is_dir(), reason="../shared/reference/checkpoints is absent")
def test_a_tiny_model_job_is_accepted_without_memory_limit_gib(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, checkpoints=TINY, test_segment_delay_seconds=0.5)
    movie = make_media(tmp_path, frames=9)
    try:
        with DaemonClient(daemon.address) as client:
            request = make_request(str(movie), str(tmp_path / "out"), "t.####.png", frames="0-8", engine="vividvr",
                                   settings=TINY_VIVIDVR, output_format="png16")
            estimate = client.estimate(request)
            assert estimate.fits and estimate.device == "cpu" and 0 < estimate.bytes_per_device < 256 * 1024**2
            assert client.jobs() == []  # the estimate queued nothing
            busy = client.submit(request_for(movie, tmp_path, "busy.####.png", frames="0-8")).job_id
            _running(client, busy)  # holds the only device, so the accepted job stays queued (not run here)
            accepted = client.submit(request).job_id
            assert client.get(accepted).state == pb.JOB_STATE_QUEUED
            client.cancel(accepted)
            client.cancel(busy)
    finally:
        daemon.stop()


def test_the_published_model_is_refused_on_a_24_gb_budget_and_the_dry_run_says_why(tmp_path: Path) -> None:
    checkpoints = write_published_tree(tmp_path / "checkpoints")
    daemon = start_daemon(tmp_path, checkpoints=checkpoints, memory_limit_gib=24e9 / 1024**3)
    (tmp_path / "media").mkdir(exist_ok=True)
    movie = write_movie(tmp_path / "media" / "square.mov", "mjpeg", Fraction(24), 121, size=(48, 48),
                        pix_fmt="yuvj420p")
    request = make_request(str(movie), str(tmp_path / "out"), "p.####.png", engine="vividvr", output_format="png16",
                           settings={"short_side": 1024, "caption": "a plate"})  # 1024x1024 x 121 frames
    try:
        with DaemonClient(daemon.address) as client:
            estimate = client.estimate(request)
            assert not estimate.fits and estimate.bytes_per_device > estimate.available_bytes
            assert {t.name for t in estimate.terms} >= {"resident weights", "denoise activations"}
            with pytest.raises(DaemonError) as refused:
                client.submit(request)
            assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            # on this CPU-only daemon: float32, and no offload advice (nothing leaves a CPU); the GPU
            # case, bf16 with --offload advice, is in test_daemon_memory
            for flag in ("on cpu", "--tile-size", "--window-frames", "memory_limit_gib"):
                assert flag in refused.value.message
            assert estimate.advice == refused.value.message
            assert client.jobs() == []
    finally:
        daemon.stop()


def test_unreadable_checkpoints_refuse_a_vividvr_job_at_submission(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, checkpoints=tmp_path / "nowhere")
    movie = make_media(tmp_path, frames=4)
    try:
        with DaemonClient(daemon.address) as client, pytest.raises(DaemonError) as refused:
            client.submit(make_request(str(movie), str(tmp_path / "out"), "v.####.png", engine="vividvr",
                                       settings=TINY_VIVIDVR, output_format="png16"))
        assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "checkpoints" in refused.value.message
    finally:
        daemon.stop()


def test_submit_dry_run_prints_the_estimate_and_queues_nothing_and_split_travels(
    tmp_path: Path, recording: list, capsys: pytest.CaptureFixture[str]
) -> None:
    from vividvr_cli.main import main

    daemon = start_daemon(tmp_path, devices=("cpu", "cpu"), memory_limit_gib=0.05)
    movie = make_media(tmp_path, frames=20)
    common = [str(movie), "--engine", "recording", "--upscale", "2", "--window-frames", "9", "--frames", "0-19",
              "--daemon", daemon.address]
    try:
        assert main(["submit", *common, "--output", str(tmp_path / "out" / "d.####.png"), "--dry-run"]) == 0
        printed = capsys.readouterr().out
        assert "GiB per device; cpu has 0.05 GiB: fits" in printed and "window pixels" in printed
        assert main(["submit", *common, "--output", str(tmp_path / "out" / "big.mov"), "--dry-run",
                     "--upscale", "16"]) == 2
        assert "lower upscale (now 16.0) with --upscale" in capsys.readouterr().err
        with DaemonClient(daemon.address) as client:
            assert client.jobs() == []
            assert main(["submit", *common, "--output", str(tmp_path / "out" / "s.####.png"), "--split"]) == 0
            job_id = capsys.readouterr().out.strip().splitlines()[-1]
            assert _ended(client, job_id).WhichOneof("kind") == "completed"
        assert recording == [("cpu", "cpu")]
    finally:
        daemon.stop()


def test_a_job_whose_worker_keeps_dying_fails_with_its_own_code_after_its_retries_and_frees_the_devices(
    tmp_path: Path, recording: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ENGINES, "worker-dies", "recording_engine:WorkerDiesEngine")
    daemon = start_daemon(tmp_path, devices=("cpu", "cpu"), worker_retries=1)
    movie = make_media(tmp_path, frames=20)
    try:
        with DaemonClient(daemon.address) as client:
            request = _request(movie, tmp_path, "x.####.png", pb.PLACEMENT_ALL_IDLE_DEVICES)
            request.settings.engine = "worker-dies"
            history = list(client.watch(client.submit(request).job_id))
            failed = history[-1]
            assert failed.WhichOneof("kind") == "failed"
            assert failed.failed.code == pb.ERROR_CODE_DEVICE_WORKER and "exited with code -9" in failed.failed.message
            retries = [e.warning.message for e in history if e.WhichOneof("kind") == "warning"]
            assert len(retries) == 1 and "(retry 1 of 1)" in retries[0] and "exited with code -9" in retries[0]
            assert sum(e.WhichOneof("kind") == "started" for e in history) == 2
            after = client.submit(_request(movie, tmp_path, "y.####.png", pb.PLACEMENT_ALL_IDLE_DEVICES)).job_id
            assert _ended(client, after).WhichOneof("kind") == "completed"
        assert recording == [("cpu", "cpu")]
    finally:
        daemon.stop()


def test_a_job_whose_worker_dies_once_is_queued_again_and_completes(
    tmp_path: Path, recording: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ENGINES, "worker-dies-once", "recording_engine:WorkerDiesOnceEngine")
    monkeypatch.setattr(recording_engine.WorkerDiesOnceEngine, "runs", 0)
    daemon = start_daemon(tmp_path, devices=("cpu", "cpu"))
    movie = make_media(tmp_path, frames=20)
    try:
        with DaemonClient(daemon.address) as client:
            request = _request(movie, tmp_path, "x.####.png", pb.PLACEMENT_ALL_IDLE_DEVICES)
            request.settings.engine = "worker-dies-once"
            history = list(client.watch(client.submit(request).job_id))
        kinds = [e.WhichOneof("kind") for e in history]
        assert kinds[-1] == "completed", kinds
        warning = next(e.warning.message for e in history if e.WhichOneof("kind") == "warning")
        assert "engine worker process died (worker 1 on cpu exited with code -9)" in warning
        assert "resumes from its last finished step (retry 1 of 2)" in warning
        assert kinds.index("warning") < kinds.index("queued", kinds.index("warning")) < len(kinds) - 1
        assert recording == [("cpu", "cpu"), ("cpu", "cpu")]  # both runs split over both devices
        assert sorted(p.name for p in (tmp_path / "out").glob("x.*.png")) == [f"x.{n:04d}.png" for n in range(20)]
    finally:
        daemon.stop()


def test_a_split_request_for_an_engine_that_cannot_spread_runs_on_one_device_with_a_warning(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, devices=("cpu", "cpu"))
    movie = make_media(tmp_path, frames=20)
    request = request_for(movie, tmp_path, "p.####.png", frames="0-19", placement=pb.PLACEMENT_ALL_IDLE_DEVICES)
    try:
        with DaemonClient(daemon.address) as client:
            history = list(client.watch(client.submit(request).job_id))
        assert any("preview engine runs a job on one device" in e.warning.message for e in history)
        assert [list(e.started.devices) for e in history if e.WhichOneof("kind") == "started"] == [["cpu"]]
        assert history[-1].WhichOneof("kind") == "completed"
    finally:
        daemon.stop()
