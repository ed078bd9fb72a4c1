"""The VividVR node end to end: the fake Nuke drives the plugin against a real daemon (preview engine).

Every frame check reads real restored files: the plate's frames show their own numbers as bars,
so the restored frame the node's internal Read shows at a comp frame must carry the number of
the plate frame the upstream Read shows at that comp frame.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import nuke_support as ns
import numpy as np
import OpenEXR
import opentimelineio as otio
import pytest
from daemon_support import start_daemon
from media_patterns import movie_frames, read_index, write_exr_sequence, write_movie
from nuke_support import nuke

from vividvr_client.client import DaemonClient, pb

SIZE = (32, 24)


@pytest.fixture
def session(tmp_path: Path):  # type: ignore[no-untyped-def]
    ns.start_session(tmp_path / "home")
    yield tmp_path


def exr_index(path: str) -> int:
    with OpenEXR.File(path) as exr:
        rgb = np.asarray(exr.channels()["RGB"].pixels, dtype=np.float32)
    return read_index(rgb)


def restored_shows(node: nuke.Node, frame: int) -> tuple[str, int] | None:
    return nuke.fake_read_shows(node.node("Restored"), frame)


def wait(node: nuke.Node, timeout: float = 90) -> str:
    nuke.fake_run_main_loop(ns.finished(node), timeout)
    return str(node["status"].value())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_exr_sequence_with_handles_shows_restored_frames_1001_to_1100_at_the_same_numbers(session: Path) -> None:
    daemon = start_daemon(session)
    try:
        pattern = write_exr_sequence(session / "media" / "seq", 1001, 100, size=SIZE)
        nuke.root()["first_frame"].setValue(1009)
        nuke.root()["last_frame"].setValue(1092)
        read = ns.plate_read(str(pattern).replace("####", "%04d"), 1001, 1100)
        node = ns.vividvr_node(read, session / "out", daemon=daemon.address, frame_range="project",
                               handles_before=8, handles_after=8, output_format="exr")
        assert node.node("Show")["which"].value() == 0  # the plate passes through until restored
        ns.press(node, "restore")
        assert wait(node).startswith("completed"), node["message"].value()

        assert node.node("Show")["which"].value() == 1
        assert node["progress"].value() == 1.0
        with DaemonClient(daemon.address) as client:
            job = client.get(node["job_id"].value())
        assert (job.first_frame, job.last_frame) == (1001, 1100)  # 1009-1092 with 8-frame handles
        clip = otio.adapters.read_from_string(job.request.source.otio_clip_json)  # what the node sent
        assert (clip.source_range.start_time.value, clip.source_range.duration.value) == (1009, 84)
        assert clip.media_reference.start_frame == 1001 and clip.media_reference.frame_zero_padding == 4
        for frame in range(1001, 1101):
            path, number = restored_shows(node, frame)
            assert number == frame and os.path.isfile(path)
            assert exr_index(path) == frame - 1001  # the bars of plate frame `frame`
        assert restored_shows(node, 1000) is None and restored_shows(node, 1101) is None
        assert node.node("Restored")["colorspace"].value() == "default"  # a plain value is copied as is
        task = nuke.fake_progress_tasks[-1]
        assert task.name == "VividVR VividVR1" and task.fake_progress == 100
        assert any("window" in message for message in task.fake_messages)
    finally:
        daemon.stop()


def test_movie_read_with_a_frame_offset_lines_up_restored_frames_with_the_plate(session: Path) -> None:
    daemon = start_daemon(session)
    try:
        movie = write_movie(session / "media" / "plate.mov", "mjpeg", Fraction(24), 40, SIZE, pix_fmt="yuvj420p")
        read = ns.plate_read(str(movie), 5, 30, frame_mode="offset", frame="1000",
                             colorspace="default (Gamma2.2)")
        node = ns.vividvr_node(read, session / "out", daemon=daemon.address, handles_before=2, handles_after=2,
                               output_format="prores")
        ns.press(node, "restore")
        assert wait(node).startswith("completed"), node["message"].value()

        restored = node.node("Restored")
        assert restored["file"].value().endswith(".mov")
        assert restored["colorspace"].value() == "Gamma2.2"
        decoded = movie_frames(Path(restored["file"].value()))
        assert len(decoded) == 30  # movie frames 2-31: file frames 5-30 of the Read and two handles each side
        shown = [f for f in range(900, 1100) if restored_shows(node, f)]
        assert shown == list(range(1003, 1033))
        for frame in shown:
            _, plate_frame = nuke.fake_read_shows(read, frame) or (None, frame - 1000)  # handles beyond the Read
            _, number = restored_shows(node, frame)
            assert read_index(decoded[number - 1]) == plate_frame - 1  # plate file frame f is movie index f-1
    finally:
        daemon.stop()


def test_cancel_from_the_progress_task_cancels_the_job_and_keeps_the_plate(session: Path) -> None:
    daemon = start_daemon(session, test_segment_delay_seconds=0.4)
    try:
        pattern = write_exr_sequence(session / "media" / "seq", 1001, 100, size=SIZE)
        node = ns.vividvr_node(ns.plate_read(str(pattern), 1001, 1100), session / "out", daemon=daemon.address)
        ns.press(node, "restore")
        nuke.fake_run_main_loop(lambda: "finished" in str(node["status"].value()), 60)  # a segment is saved
        nuke.fake_progress_tasks[-1].fake_cancel()
        assert wait(node).startswith("cancelled")

        with DaemonClient(daemon.address) as client:
            assert client.get(node["job_id"].value()).state == pb.JOB_STATE_CANCELLED
        assert "cancelled" in node["message"].value()
        assert node["result_file"].value() == ""
        assert node.node("Show")["which"].value() == 0
        assert not list((session / "out").iterdir())  # nothing half-done looks finished
    finally:
        daemon.stop()


def test_cancel_button_cancels_the_running_job(session: Path) -> None:
    daemon = start_daemon(session, test_segment_delay_seconds=0.4)
    try:
        pattern = write_exr_sequence(session / "media" / "seq", 1001, 60, size=SIZE)
        node = ns.vividvr_node(ns.plate_read(str(pattern), 1001, 1060), session / "out", daemon=daemon.address)
        ns.press(node, "restore")
        nuke.fake_run_main_loop(lambda: bool(node["job_id"].value()), 30)
        ns.press(node, "restore")  # a second press while it runs starts nothing
        assert "already restoring" in node["status"].value()
        ns.press(node, "cancel")
        assert wait(node).startswith("cancelled")
        with DaemonClient(daemon.address) as client:
            assert len(client.jobs()) == 1
    finally:
        daemon.stop()


REOPEN_SUBMIT = """
import os, sys
from pathlib import Path
import nuke_support as ns
from nuke_support import nuke
ns.start_session(Path(sys.argv[1]))
nuke.scriptOpen(sys.argv[2])
node = nuke.toNode("VividVR1")
ns.press(node, "restore")
nuke.fake_run_main_loop(lambda: bool(node["job_id"].value()), 30)
nuke.scriptSave(sys.argv[2])
os._exit(0)  # Nuke quits while the job runs: its follower thread dies with it
"""


@pytest.mark.parametrize(("when", "segment_seconds"), [("running", 0.6), ("finished", 0.1)])
def test_a_reopened_script_reattaches_to_its_job_from_the_job_id_knob(
    session: Path, when: str, segment_seconds: float
) -> None:
    daemon = start_daemon(session, test_segment_delay_seconds=segment_seconds)
    try:
        pattern = write_exr_sequence(session / "media" / "seq", 1001, 30, size=SIZE)
        node = ns.vividvr_node(ns.plate_read(str(pattern), 1001, 1030, frame_mode="offset", frame="-1000"),
                               session / "out", daemon=daemon.address)
        script = session / "comp.nk"
        nuke.scriptSave(str(script))
        subprocess.run([sys.executable, "-c", REOPEN_SUBMIT, str(session / "home"), str(script)],
                       cwd=ns.TESTS, check=True, timeout=60)
        job_id = node_job = next(line.split()[1] for line in script.read_text().splitlines()
                                 if line.startswith(" job_id"))
        with DaemonClient(daemon.address) as client:
            if when == "finished":
                assert [e.WhichOneof("kind") for e in client.watch(job_id)][-1] == "completed"
            else:
                assert client.get(job_id).state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING)

        ns.start_session(session / "home")  # Nuke starts again and opens the saved comp
        nuke.scriptOpen(str(script))
        node = nuke.toNode("VividVR1")
        assert node["job_id"].value() == node_job
        assert wait(node).startswith("completed"), node["message"].value()
        assert nuke.fake_progress_tasks[-1].fake_progress == 100  # the re-attached follower drives a progress bar
        for frame in range(1, 31):
            path, _ = restored_shows(node, frame)
            assert exr_index(path) == frame - 1

        nuke.scriptSave(str(script))
        daemon.stop()  # a finished result comes back from the knobs alone
        ns.start_session(session / "home")
        nuke.scriptOpen(str(script))
        node = nuke.toNode("VividVR1")
        assert node.node("Show")["which"].value() == 1
        assert exr_index(restored_shows(node, 17)[0]) == 16
        assert nuke.fake_progress_tasks == []  # nothing to re-attach to
    finally:
        daemon.stop()


def test_daemon_down_puts_a_clear_error_on_the_node(session: Path) -> None:
    pattern = write_exr_sequence(session / "media" / "seq", 1001, 5, size=SIZE)
    address = f"127.0.0.1:{free_port()}"
    node = ns.vividvr_node(ns.plate_read(str(pattern), 1001, 1005), session / "out", daemon=address)
    ns.press(node, "restore")
    assert wait(node, 30).startswith("error: no VividVR daemon answers at " + address)
    assert "vividvr daemon start" in node["message"].value()
    node["job_id"].setValue("j-gone")
    node["status"].setValue("")
    ns.press(node, "cancel")
    assert wait(node, 30).startswith("error: no VividVR daemon answers")

    script = session / "comp.nk"
    nuke.scriptSave(str(script))
    ns.start_session(session / "home")
    nuke.scriptOpen(str(script))  # re-attaching to a job on a daemon that is down says so at once
    node = nuke.toNode("VividVR1")
    assert wait(node, 10).startswith("error: no VividVR daemon answers at " + address)


def test_daemon_refusals_and_bad_inputs_are_shown_on_the_node(session: Path) -> None:
    daemon = start_daemon(session)
    try:
        node = ns.vividvr_node(None, session / "out", daemon=daemon.address)
        ns.press(node, "restore")
        assert node["status"].value() == "error: VividVR1: connect a Read of the plate to the input"

        grade = nuke.nodes.Grade()
        node.setInput(0, grade)
        ns.press(node, "restore")
        assert "the input is Grade1 (Grade)" in node["message"].value()

        outside = write_exr_sequence(session / "elsewhere", 1, 3, size=SIZE)  # not under a media root
        dot = nuke.nodes.Dot()
        dot.setInput(0, ns.plate_read(str(outside), 1, 3))
        node.setInput(0, dot)  # Dots are looked through
        ns.press(node, "restore")
        assert wait(node, 30).startswith("error: the daemon refused the job")
        assert "outside the daemon's allowed folders" in node["message"].value()
        assert "PERMISSION_DENIED" in node["message"].value()
    finally:
        daemon.stop()


def test_the_gizmo_offers_every_engine_format_and_colour_fix_with_the_engine_defaults(session: Path) -> None:
    from dataclasses import fields

    from vividvr_engine.engines import ENGINES
    from vividvr_engine.media.target import FORMATS
    from vividvr_engine.settings import COLOR_FIXES, OFFLOAD_MODES, RestoreSettings
    from vividvr_nuke.job import SETTINGS_KNOBS
    from vividvr_nuke.plate import FORMAT_EXTENSIONS

    node = nuke.menu("Nodes").fake_invoke("VividVR/Restore")
    assert set(node["engine"].values()) == set(ENGINES)
    assert node["output_format"].values() == list(FORMATS)
    assert set(FORMAT_EXTENSIONS) == set(FORMATS)
    assert node["color_fix"].values() == list(COLOR_FIXES)
    assert node["offload"].values() == list(OFFLOAD_MODES)
    defaults = RestoreSettings()
    assert set(SETTINGS_KNOBS) == {f.name for f in fields(RestoreSettings)}
    for name, convert in SETTINGS_KNOBS.items():
        assert convert(node[name].value()) == getattr(defaults, name), name
