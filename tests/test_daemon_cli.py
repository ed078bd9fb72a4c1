"""The daemon as people run it: `vividvr daemon start` in its own process, killed with SIGKILL mid-job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_support import kinds, make_media, reference_restore, same_files, segments_cover, start_daemon

from vividvr_cli.main import main as cli_main
from vividvr_client.client import DaemonClient
from vividvr_daemon.config import TEST_SEGMENT_DELAY_ENV

VIVIDVR = [sys.executable, "-m", "vividvr_cli.main"]


def vividvr(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*VIVIDVR, *args], capture_output=True, text=True, timeout=timeout, env=env)


def start(root: Path, delay: float = 0.0) -> tuple[subprocess.Popen, str]:
    """`vividvr daemon start --foreground` on a free loopback port; returns (process, address)."""
    env = dict(os.environ, **{TEST_SEGMENT_DELAY_ENV: str(delay)})
    pid_file = root / "data" / "daemon.json"
    pid_file.unlink(missing_ok=True)
    process = subprocess.Popen(
        [*VIVIDVR, "daemon", "start", "--foreground", "--listen", "127.0.0.1:0", "--data-dir", str(root / "data"),
         "--log-dir", str(root / "log"), "--media-root", str(root / "media"), "--output-root", str(root / "out"),
         "--device", "cpu"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, (root / "log" / "daemon.log").read_text()
        if pid_file.exists():
            info = json.loads(pid_file.read_text())
            if info["pid"] == process.pid:
                return process, info["address"]
        time.sleep(0.1)
    process.kill()
    pytest.fail("the daemon did not start within 60 s")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path


def submit(root: Path, movie: Path, address: str, output: str, *extra: str) -> str:
    result = vividvr("submit", str(movie), "--output", str(root / "out" / output), "--engine", "preview",
                     "--upscale", "2", "--window-frames", "9", "--format", "png16", "--frames", "3-30",
                     "--daemon", address, *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_sigkill_mid_job_then_restart_resumes_and_finishes_identical(root: Path) -> None:
    movie = make_media(root)
    process, address = start(root, delay=0.4)
    job_id = submit(root, movie, address, "k.####.png")
    with DaemonClient(address) as client:
        before = []
        for event in client.watch(job_id):
            before.append(event)
            if kinds(before).count("segment_written") == 2:
                break
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert not list((root / "out").iterdir())  # nothing half-done presented as output

    process, address = start(root)
    try:
        watch = vividvr("watch", job_id, "--daemon", address)
        assert watch.returncode == 0, watch.stderr
        with DaemonClient(address) as client:
            history = list(client.watch(job_id))
            job = client.get(job_id)
        assert kinds(history).count("completed") == 1
        assert segments_cover(history, 3, 30)  # no frame lost, none announced twice
        assert [e.seq for e in history] == sorted({e.seq for e in history})
        restarted = [e for e in history if e.WhichOneof("kind") == "started"]
        assert [e.started.resumed for e in restarted] == [False, True]
        reference = reference_restore(movie, root / "ref" / "k.####.png", 3, 30)
        assert same_files(list(job.completed.paths), reference)
    finally:
        process.terminate()
        process.wait(30)


def test_cli_submit_watch_jobs_cancel_and_stop(root: Path) -> None:
    movie = make_media(root)
    process, address = start(root, delay=0.3)
    try:
        done = submit(root, movie, address, "a.####.png")
        slow = submit(root, movie, address, "b.####.png", "--label", "the slow one")
        assert vividvr("watch", done, "--daemon", address).returncode == 0
        listing = vividvr("jobs", "--daemon", address)
        assert done in listing.stdout and "the slow one" in listing.stdout
        assert vividvr("cancel", slow, "--daemon", address).returncode == 0
        assert vividvr("watch", slow, "--daemon", address).returncode == 1
        status = vividvr("daemon", "status", "--daemon", address, "--json")
        assert json.loads(status.stdout)["devices"][0]["name"] == "cpu"
        refused = vividvr("submit", "/etc/hostname", "--output", str(root / "out" / "x.mov"), "--engine", "preview",
                          "--daemon", address)
        assert refused.returncode == 2 and "PERMISSION_DENIED" in refused.stderr
        stop = vividvr("daemon", "stop", "--data-dir", str(root / "data"))
        assert stop.returncode == 0, stop.stderr
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_background_start_status_and_stop_on_a_unix_socket(root: Path) -> None:
    socket = f"unix:{root / 'daemon.sock'}"
    dirs = ["--data-dir", str(root / "data"), "--log-dir", str(root / "log")]
    started = vividvr("daemon", "start", "--listen", socket, *dirs, "--media-root", str(root), "--output-root",
                      str(root / "out"), "--device", "cpu")
    try:
        assert started.returncode == 0, started.stderr
        assert socket in started.stdout and (root / "log" / "daemon.log").exists()
        status = vividvr("daemon", "status", "--daemon", socket)
        assert status.returncode == 0 and "device cpu" in status.stdout
        assert vividvr("daemon", "stop", "--data-dir", str(root / "data")).returncode == 0
        assert vividvr("daemon", "status", "--daemon", socket).returncode == 1
    finally:
        pid_file = root / "data" / "daemon.json"
        if pid_file.exists():
            os.kill(json.loads(pid_file.read_text())["pid"], signal.SIGKILL)


def test_restore_with_daemon_flag_runs_on_the_daemon_and_matches_local(tmp_path: Path) -> None:
    """`vividvr restore ... --daemon HOST:PORT` goes through the daemon and gives the local result."""
    movie = make_media(tmp_path)
    daemon = start_daemon(tmp_path)
    try:
        output = tmp_path / "out" / "r.####.png"
        flags = [str(movie), "--output", str(output), "--engine", "preview", "--upscale", "2",
                 "--window-frames", "9", "--format", "png16", "--frames", "3-30", "--daemon", daemon.address]
        assert cli_main(["restore", *flags]) == 0
        restored = sorted(str(p) for p in output.parent.glob("r.*.png"))
        assert same_files(restored, reference_restore(movie, tmp_path / "ref" / "r.####.png", 3, 30))
        state = tmp_path / "state"
        assert cli_main(["restore", *flags, "--state-dir", str(state)]) == 2  # local state cannot travel
    finally:
        daemon.stop()
