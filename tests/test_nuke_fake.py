"""The fake `nuke` enforces what the node tests rely on: Nuke's threading rule and how scripts keep gizmos."""

from __future__ import annotations

import threading
from pathlib import Path

import nuke_support as ns
import pytest
from nuke_support import nuke


@pytest.fixture(autouse=True)
def session(tmp_path: Path) -> None:
    ns.start_session(tmp_path / "home")


def in_worker(call) -> BaseException | None:  # type: ignore[no-untyped-def]
    caught: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            caught.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return caught[0] if caught else None


def test_execute_in_main_thread_refuses_the_main_thread_and_runs_worker_calls_there() -> None:
    with pytest.raises(RuntimeError, match="Nuke would hang"):
        nuke.executeInMainThread(print, ())
    ran_on: list[threading.Thread] = []
    assert in_worker(lambda: nuke.executeInMainThread(lambda: ran_on.append(threading.current_thread()))) is None
    nuke.fake_run_main_loop(lambda: bool(ran_on), 5)
    assert ran_on == [threading.main_thread()]


def test_knobs_refuse_worker_threads_in_the_gui_only(tmp_path: Path) -> None:
    read = nuke.nodes.Read(file="/m/a.mov")
    assert "off the main thread" in str(in_worker(lambda: read["first"].setValue(3)))
    assert "off the main thread" in str(in_worker(lambda: read["file"].value()))
    ns.start_session(tmp_path / "home", gui=False)
    read = nuke.nodes.Read(file="/m/a.mov")
    assert in_worker(lambda: read["first"].setValue(3)) is None


def test_knobs_keep_their_types() -> None:
    read = nuke.nodes.Read()
    with pytest.raises(TypeError):
        read["first"].setValue("1001")
    with pytest.raises(ValueError, match="not one of"):
        read["frame_mode"].setValue("reverse")
    read["frame_mode"].setValue(2)
    assert read["frame_mode"].value() == "offset"


def test_a_saved_script_keeps_wiring_and_gizmo_knobs_but_not_gizmo_internals(tmp_path: Path) -> None:
    read = nuke.nodes.Read(file="/m/plate.%04d.exr", first=1001, last=1100, frame_mode="start at", frame="1")
    dot = nuke.nodes.Dot()
    dot.setInput(0, read)
    other = nuke.nodes.Read(file="/m/b.mov")
    node = ns.vividvr_node(dot, tmp_path / "out", seed=7, caption='a "quoted" [caption]\nline two')
    node.node("Restored")["file"].setValue("/not/saved.exr")
    nuke.root()["last_frame"].setValue(1100)
    script = tmp_path / "comp.nk"
    nuke.scriptSave(str(script))

    created: list[str] = []
    nuke.scriptClear()
    nuke.addOnCreate(lambda: created.append(nuke.thisNode().name()))
    nuke.scriptOpen(str(script))
    loaded = nuke.toNode("VividVR1")
    assert created == ["Read1", "Dot1", "Read2", "VividVR1"]
    assert loaded.input(0).name() == "Dot1" and loaded.input(0).input(0).name() == "Read1"
    assert nuke.toNode("Read2")["file"].value() == other["file"].value()
    assert (loaded["seed"].value(), loaded["caption"].value()) == (7, 'a "quoted" [caption]\nline two')
    assert nuke.toNode("Read1")["frame_mode"].value() == "start at"
    assert nuke.root()["last_frame"].value() == 1100
    assert loaded.node("Restored")["file"].value() == ""  # a gizmo's internals come from the .gizmo


@pytest.mark.parametrize("first", [0, 1])
def test_a_read_reports_the_frames_of_its_file_numbered_as_the_switch_says(tmp_path: Path, first: int) -> None:
    from fractions import Fraction

    from media_patterns import write_exr_sequence, write_movie

    nuke.fake_conventions["movie_first_frame"] = first
    movie = write_movie(tmp_path / "m.mov", "mjpeg", Fraction(24), 6, (32, 24), pix_fmt="yuvj420p")
    read = nuke.nodes.Read(file=str(movie), first=first + 1, last=first + 3, frame_mode="offset", frame="10")
    assert (read["origfirst"].value(), read["origlast"].value(), read.hasError()) == (first, first + 5, False)
    assert (read.firstFrame(), read.lastFrame()) == (first + 11, first + 13)
    assert nuke.fake_read_media_frame(read, first + 12) == (str(movie), 2)  # file frame first + 2
    sequence = write_exr_sequence(tmp_path / "seq", 1001, 3, size=(8, 8))
    read["file"].setValue(str(sequence))
    assert (read["origfirst"].value(), read["origlast"].value()) == (1001, 1003)
    read["file"].setValue(str(tmp_path / "missing.mov"))
    assert read.hasError()
