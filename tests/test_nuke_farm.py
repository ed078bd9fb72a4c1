"""`vividvr nuke submit`: a farm job runs `nuke -t` on a saved comp, restores its VividVR node and saves it.

The Nuke executable is the fake's terminal mode (tests/fakes/nuke_terminal.py) in a real
subprocess; the daemon is real, on loopback, with the preview engine.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import nuke_support as ns
import numpy as np
import OpenEXR
import pytest
from daemon_support import start_daemon
from media_patterns import read_index, write_exr_sequence
from nuke_support import nuke

from vividvr_cli.main import main
from vividvr_client.client import DaemonClient

SIZE = (32, 24)


@pytest.fixture
def farm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """(daemon, comp.nk with Read -> VividVR1, the fake nuke executable)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no installed plugin: the source farm script runs
    monkeypatch.delenv("NUKE_PATH", raising=False)
    daemon = start_daemon(tmp_path)
    ns.start_session(tmp_path / "home", gui=False)
    pattern = write_exr_sequence(tmp_path / "media" / "seq", 1001, 24, size=SIZE)
    ns.vividvr_node(ns.plate_read(str(pattern), 1001, 1024), tmp_path / "out", daemon=daemon.address,
                    handles_before=4)
    comp = tmp_path / "comp.nk"
    nuke.scriptSave(str(comp))
    executable = tmp_path / "nuke"
    executable.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ns.FAKES / "nuke_terminal.py"}" "$@"\n')
    executable.chmod(0o755)
    yield daemon, comp, str(executable)
    daemon.stop()


def exr_index(path: str) -> int:
    with OpenEXR.File(path) as exr:
        return read_index(np.asarray(exr.channels()["RGB"].pixels, dtype=np.float32))


def reopen(comp: Path, home: Path) -> nuke.Node:
    ns.start_session(home, gui=False)
    nuke.scriptOpen(str(comp))
    return nuke.toNode("VividVR1")


def test_submit_restores_the_node_and_saves_the_comp_for_the_render_job(farm, tmp_path: Path, capfd) -> None:
    daemon, comp, executable = farm
    assert main(["nuke", "submit", str(comp), "VividVR1", "--nuke", executable]) == 0
    out = capfd.readouterr().out
    assert "VividVR VividVR1: completed" in out and f"{comp}: saved" in out

    node = reopen(comp, tmp_path / "home")  # the render job opens the saved comp
    assert node.node("Show")["which"].value() == 1
    for frame in range(1001, 1025):
        path, number = nuke.fake_read_shows(node.node("Restored"), frame)
        assert number == frame and exr_index(path) == frame - 1001

    saved = comp.read_text()
    assert main(["nuke", "submit", str(comp), "VividVR1", "--nuke", executable]) == 0
    assert "already restored" in capfd.readouterr().out
    assert comp.read_text() == saved
    with DaemonClient(daemon.address) as client:
        assert len(client.jobs()) == 1


def test_a_job_started_elsewhere_is_reattached_not_submitted_again(farm, tmp_path: Path, capfd) -> None:
    daemon, comp, executable = farm
    node = reopen(comp, tmp_path / "home")
    from vividvr_nuke import job  # the request the node would send, submitted by someone else

    with DaemonClient(daemon.address) as client:
        job_id = client.submit(job.submission(node).request).job_id
    node["job_id"].setValue(job_id)
    nuke.scriptSave(str(comp))
    assert main(["nuke", "submit", str(comp), "VividVR1", "--nuke", executable]) == 0
    assert f"re-attaching to job {job_id}" in capfd.readouterr().out
    assert reopen(comp, tmp_path / "home")["result_file"].value()
    with DaemonClient(daemon.address) as client:
        assert [j.id for j in client.jobs()] == [job_id]


def test_daemon_down_fails_the_farm_job_with_the_reason_and_leaves_the_comp(farm, capfd) -> None:
    _, comp, executable = farm
    saved = comp.read_text()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    assert main(["nuke", "submit", str(comp), "VividVR1", "--nuke", executable, "--daemon", address]) == 1
    assert f"no VividVR daemon answers at {address}" in capfd.readouterr().out
    assert comp.read_text() == saved


def test_bad_arguments_are_refused_before_anything_runs(farm, tmp_path: Path, capfd) -> None:
    _, comp, executable = farm
    assert main(["nuke", "submit", str(comp), "Read1", "--nuke", executable]) == 2
    assert "Read1 is a Read node; name a VividVR node" in capfd.readouterr().out
    assert main(["nuke", "submit", str(tmp_path / "none.nk"), "VividVR1", "--nuke", executable]) == 2
    assert main(["nuke", "submit", str(comp), "VividVR1", "--nuke", str(tmp_path / "no-nuke")]) == 2
    assert "cannot run" in capfd.readouterr().err
