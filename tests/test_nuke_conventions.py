"""Nuke conventions nobody measured here are read back, not assumed: frame-exact under either, or refused.

The fake Nuke has one switch per such convention (`nuke.fake_conventions`). End to end, with a
real daemon and the preview engine, movie Reads and image sequences whose media starts at
00:00:00:00, 01:00:00:00 or a 29.97 drop-frame time of day, trimmed inside the media, must come
back frame-exact whether Nuke numbers a movie's first frame 0 or 1; what cannot be confirmed is
refused in a dialog and on the node, with the script left as it was.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import nuke_support as ns
import numpy as np
import OpenEXR
import opentimelineio as otio
import pytest
from daemon_support import start_daemon
from media_patterns import movie_frames, movie_timecode, read_index, write_exr_sequence, write_movie
from nuke_support import nuke

from vividvr_client.client import DaemonClient

SIZE = (32, 24)
HANDLES = 2
# (name, rate, start timecode): movies of 24 frames
MOVIES = [
    ("zero", Fraction(24), "00:00:00:00"),
    ("hour", Fraction(25), "01:00:00:00"),
    ("tod_df", Fraction(30000, 1001), "10:23:45;12"),
]


@pytest.fixture
def session(tmp_path: Path):  # type: ignore[no-untyped-def]
    ns.start_session(tmp_path / "home")
    yield tmp_path


def media_index(path: str, number: int, decoded: dict[str, list[np.ndarray]]) -> int:
    """The bar index of frame `number` of a movie (index from 0) or of a sequence file `path`."""
    if path.endswith(".exr"):
        with OpenEXR.File(path) as exr:
            return read_index(np.asarray(exr.channels()["RGB"].pixels, dtype=np.float32))
    if path not in decoded:
        decoded[path] = movie_frames(Path(path))
    return read_index(decoded[path][number])


def restore(node: nuke.Node, timeout: float = 90) -> str:
    ns.press(node, "restore")
    nuke.fake_run_main_loop(ns.finished(node), timeout)
    return str(node["status"].value())


def check_frame_exact(read: nuke.Node, node: nuke.Node, first_index: int) -> None:
    """Every comp frame the plate's Read shows holds the same bars in the restored media, handles around it."""
    restored = node.node("Restored")
    assert node.node("Show")["which"].value() == 1
    start = read.firstFrame()
    assert (restored.firstFrame(), restored.lastFrame()) == (start - HANDLES, read.lastFrame() + HANDLES)
    decoded: dict[str, list[np.ndarray]] = {}
    for comp in range(start - HANDLES, read.lastFrame() + HANDLES + 1):
        path, index = nuke.fake_read_media_frame(restored, comp)
        plate_index = first_index + comp - start  # bars count media frames from 0 in every test medium
        assert media_index(path, index, decoded) == plate_index, comp


@pytest.mark.parametrize("movie_first_frame", [0, 1, "timecode"])
def test_movies_at_any_start_timecode_and_sequences_land_frame_exact_whatever_nuke_numbers_movies_from(
    session: Path, movie_first_frame: int | str
) -> None:
    nuke.fake_conventions["movie_first_frame"] = movie_first_frame
    daemon = start_daemon(session)
    try:
        plates = []
        for name, rate, timecode in MOVIES:
            movie = write_movie(session / "media" / f"{name}.mov", "mjpeg", rate, 24, SIZE, pix_fmt="yuvj420p",
                                timecode=timecode)
            assert movie_timecode(movie) == timecode
            plates.append((rate, str(movie), "prores"))
        sequence = write_exr_sequence(session / "media" / "seq", 1001, 24, size=SIZE)
        plates.append((Fraction(24), str(sequence).replace("####", "%04d"), "exr"))

        for rate, media, output_format in plates:
            nuke.root()["fps"].setValue(float(rate))
            read = ns.plate_read(media, 1, 1, frame_mode="offset", frame="1000")
            origin = read["origfirst"].value()  # the number Nuke gave the media's first frame
            if movie_first_frame == "timecode" and media.endswith(".mov"):
                assert origin == round(otio.opentime.from_timecode(movie_timecode(Path(media)), float(rate)).value)
            read["first"].setValue(origin + 5)  # trimmed inside the media: media frames 5..16
            read["last"].setValue(origin + 16)
            node = ns.vividvr_node(read, session / "out", daemon=daemon.address, handles_before=HANDLES,
                                   handles_after=HANDLES, output_format=output_format)
            assert restore(node).startswith("completed"), (media, node["message"].value())
            check_frame_exact(read, node, first_index=5)
        assert nuke.fake_dialogs == []
    finally:
        daemon.stop()


def test_a_read_whose_media_nuke_cannot_read_is_refused_in_a_dialog_and_nothing_changes(session: Path) -> None:
    read = ns.plate_read(str(session / "media" / "gone.mov"), 1, 24)
    node = ns.vividvr_node(read, session / "out", daemon="127.0.0.1:1")
    before = {k: v.value() for k, v in node.node("Restored").knobs().items()}
    ns.press(node, "restore")
    assert node["status"].value().startswith("error: Read1: Nuke reports no frames for")
    assert nuke.fake_dialogs and "Read1: Nuke reports no frames" in nuke.fake_dialogs[-1]
    assert "press Restore again" in nuke.fake_dialogs[-1]
    assert node["job_id"].value() == "" and nuke.fake_progress_tasks == []  # nothing was sent
    assert {k: v.value() for k, v in node.node("Restored").knobs().items()} == before


def test_a_read_nuke_shows_at_other_frames_than_its_knobs_say_is_refused(session: Path) -> None:
    pattern = write_exr_sequence(session / "media" / "seq", 1001, 10, size=SIZE)
    nuke.fake_conventions["offset_sign"] = -1  # if "offset" moved frames the other way
    read = ns.plate_read(str(pattern), 1001, 1010, frame_mode="offset", frame="100")
    node = ns.vividvr_node(read, session / "out", daemon="127.0.0.1:1")
    ns.press(node, "restore")
    assert "Read1: Nuke shows the Read at comp frames 901-910, not 1101-1110" in node["message"].value()
    assert "nothing was changed" in nuke.fake_dialogs[-1]
    assert node["job_id"].value() == "" and nuke.fake_progress_tasks == []


def test_a_stored_result_nuke_reads_otherwise_is_refused_on_reload_and_the_plate_shown(session: Path) -> None:
    daemon = start_daemon(session)
    try:
        movie = write_movie(session / "media" / "p.mov", "mjpeg", Fraction(24), 12, SIZE, pix_fmt="yuvj420p")
        read = ns.plate_read(str(movie), 1, 12)
        node = ns.vividvr_node(read, session / "out", daemon=daemon.address, output_format="prores")
        assert restore(node).startswith("completed"), node["message"].value()
        script = session / "comp.nk"
        nuke.scriptSave(str(script))
        with DaemonClient(daemon.address) as client:
            output = client.get(node["job_id"].value()).output_path
    finally:
        daemon.stop()

    ns.start_session(session / "home")  # the same Nuke, reporting another first movie frame: still exact
    nuke.fake_conventions["movie_first_frame"] = 0
    nuke.scriptOpen(str(script))
    node = nuke.toNode("VividVR1")
    assert node.node("Show")["which"].value() == 1 and nuke.fake_dialogs == []
    path, index = nuke.fake_read_media_frame(node.node("Restored"), 7)
    assert read_index(movie_frames(Path(path))[index]) == 6

    write_movie(Path(output), "mjpeg", Fraction(24), 5, SIZE, pix_fmt="yuvj420p")  # the file changed since
    ns.start_session(session / "home")
    nuke.scriptOpen(str(script))
    node = nuke.toNode("VividVR1")
    assert node.node("Show")["which"].value() == 0  # the plate, not frames that cannot be confirmed
    assert node.node("Restored")["file"].value() == ""
    assert "Nuke reads 5 frames" in node["message"].value() and "the daemon wrote 12" in nuke.fake_dialogs[-1]
    assert node["result_file"].value() == output  # the record is kept: fixing the file shows it again


def test_engine_knob_values_read_back_the_same_after_a_script_reload(session: Path) -> None:
    from vividvr_nuke.job import engine_settings

    node = ns.vividvr_node(None, session / "out", seed=7, textfix=True, color_fix="wavelet", short_side=720,
                           caption="a dog", guidance_scale=4.5, num_inference_steps=50)
    sent = engine_settings(node)
    script = session / "comp.nk"
    nuke.scriptSave(str(script))
    ns.start_session(session / "home")
    nuke.scriptOpen(str(script))
    assert engine_settings(nuke.toNode("VividVR1")) == sent
    assert (sent["seed"], sent["short_side"], sent["caption"], sent["textfix"]) == (7, 720, "a dog", True)


def test_a_finished_job_whose_frames_nuke_would_show_elsewhere_is_refused_and_the_plate_kept(session: Path) -> None:
    daemon = start_daemon(session)
    try:
        pattern = write_exr_sequence(session / "media" / "seq", 1001, 10, size=SIZE)
        read = ns.plate_read(str(pattern), 1001, 1010, frame_mode="offset", frame="100")
        node = ns.vividvr_node(read, session / "out", daemon=daemon.address, output_format="exr")
        ns.press(node, "restore")  # the request is built and checked here, on the main thread
        nuke.fake_conventions["offset_sign"] = -1  # Nuke now shows the restored Read elsewhere
        nuke.fake_run_main_loop(ns.finished(node), 90)
        assert node["status"].value().startswith("error: job ")
        assert "cannot be shown: VividVR1: Nuke shows the Read at comp frames" in nuke.fake_dialogs[-1]
        assert node.node("Show")["which"].value() == 0 and node.node("Restored")["file"].value() == ""
        assert node["result_file"].value() == ""  # nothing unconfirmed is recorded as the node's result
    finally:
        daemon.stop()
