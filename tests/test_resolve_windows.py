"""Every refusal and failure of the Resolve scripts reaches the artist in a UIManager window, not only the Console.

Each case runs a menu script as Resolve does (globals `bmd` and `fusion`, an attended run) and
checks that a window showed exactly the lines the run printed.
"""

from __future__ import annotations

import os
import socket
from fractions import Fraction
from pathlib import Path

import pytest
from daemon_support import start_daemon
from fakes.resolve import FakeBmd, FakeFusion, FakeResolve, FakeTool
from media_patterns import write_movie
from resolve_support import load_script, new_project, write_settings

from vividvr_client.client import DaemonClient

RESTORE, COLLECT = "Restore with Vivid-VR.py", "Collect Vivid-VR restores.py"
TOOL = "Restore with Vivid-VR (Fusion Tool).py"


def free_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def run_attended(script: str, resolve, settings: Path, people: list, **kwargs) -> tuple:  # type: ignore[no-untyped-def]
    """The script with Resolve's globals; `people` act on the windows in order. (report, printed, windows' text)."""
    shown: list[str] = []

    def reader(window) -> None:  # type: ignore[no-untyped-def]
        shown.append(window.GetItems()["Message"].Text)
        window.fake_click("OK")

    module = load_script(script)
    module.bmd, module.fusion = FakeBmd(resolve, [*people, reader]), FakeFusion()
    lines: list[str] = []
    report = module.main(settings_path=str(settings), out=lines.append, **kwargs)
    return report, lines, shown


def plate_project(root: Path, frames: int = 20):  # type: ignore[no-untyped-def]
    resolve, timeline = new_project(Fraction(24))
    path = write_movie(root / "media" / "plate.mov", "mjpeg", Fraction(24), frames, size=(32, 24),
                       pix_fmt="yuvj420p", timecode="01:00:00:00")
    clip = resolve.project.pool.ImportMedia([str(path)])[0]
    item = timeline.fake_place(clip, 2, 8, 86400)
    timeline.fake_select(item)
    return resolve, timeline, item, path


def click_restore(window) -> None:  # type: ignore[no-untyped-def]
    window.fake_click("Restore")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "media").mkdir()
    (tmp_path / "out").mkdir()
    return tmp_path


def no_project(root: Path, address: str):  # type: ignore[no-untyped-def]
    resolve = FakeResolve()
    resolve.project = None  # type: ignore[assignment]
    return RESTORE, resolve, write_settings(root, free_address(), interactive=True), [], {}, "no project is open"


def damaged_settings(root: Path, address: str):  # type: ignore[no-untyped-def]
    resolve, *_ = plate_project(root)
    settings = root / "settings.json"
    settings.write_text("{not json")
    return RESTORE, resolve, settings, [], {}, "cannot read saved settings"


def nothing_selected(root: Path, address: str):  # type: ignore[no-untyped-def]
    resolve, timeline, *_ = plate_project(root)
    timeline.fake_select()
    timeline.playhead = 0
    return RESTORE, resolve, write_settings(root, free_address(), interactive=True), [], {}, "Nothing to restore"


def no_daemon(root: Path, address: str):  # type: ignore[no-untyped-def]
    resolve, *_ = plate_project(root)
    settings = write_settings(root, free_address(), interactive=True, connect_timeout=0.5)
    return RESTORE, resolve, settings, [click_restore], {}, "No VividVR daemon answers"


def deleted_file(root: Path, address: str):  # type: ignore[no-untyped-def]
    resolve, _timeline, _item, path = plate_project(root)
    os.remove(path)
    return RESTORE, resolve, write_settings(root, address, interactive=True), [click_restore, None], {}, \
        "the daemon refused it"


def collect_without_daemon(root: Path, address: str):  # type: ignore[no-untyped-def]
    resolve, *_ = plate_project(root)
    settings = write_settings(root, free_address(), interactive=True, connect_timeout=0.5)
    return COLLECT, resolve, settings, [], {}, "No VividVR daemon answers"


def collect_nothing_queued(root: Path, address: str):  # type: ignore[no-untyped-def]
    resolve, *_ = plate_project(root)
    return COLLECT, resolve, write_settings(root, address, interactive=True), [], {}, "no queued restores"


def collect_failed_job(root: Path, address: str):  # type: ignore[no-untyped-def]
    resolve, *_ = plate_project(root)
    settings = write_settings(root, address, interactive=False, mode="queue")
    (outcome,) = load_script(RESTORE).main(resolve=resolve, settings_path=str(settings), out=print).outcomes
    with DaemonClient(address) as client:
        client.cancel(outcome.job_id)
        assert list(client.watch(outcome.job_id))[-1].WhichOneof("kind") == "cancelled"
    settings = write_settings(root, address, interactive=True, mode="queue")
    return COLLECT, resolve, settings, [], {}, "cancelled"


def tool_on_another_node(root: Path, address: str):  # type: ignore[no-untyped-def]
    resolve, *_ = plate_project(root)
    return TOOL, resolve, write_settings(root, address, interactive=True), [], \
        {"tool": FakeTool({"TOOLS_RegID": "Blur", "TOOLS_Name": "Blur1"})}, "Blur1 is a Blur"


def tool_without_a_node(root: Path, address: str):  # type: ignore[no-untyped-def]
    resolve, *_ = plate_project(root)
    return TOOL, resolve, write_settings(root, address, interactive=True), [], {"tool": None}, "MediaIn or Loader"


def loader_without_a_file(root: Path, address: str):  # type: ignore[no-untyped-def]
    resolve, *_ = plate_project(root)
    return TOOL, resolve, write_settings(root, address, interactive=True), [], \
        {"tool": FakeTool({"TOOLS_RegID": "Loader", "TOOLS_Name": "Loader1"})}, "Loader1 has no file"


CASES = [no_project, damaged_settings, nothing_selected, no_daemon, deleted_file, collect_without_daemon,
         collect_nothing_queued, collect_failed_job, tool_on_another_node, tool_without_a_node, loader_without_a_file]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_every_refusal_and_failure_is_shown_in_a_window(root: Path, case) -> None:  # type: ignore[no-untyped-def]
    daemon = start_daemon(root, test_segment_delay_seconds=1.0)  # a queued job is still running when cancelled
    try:
        script, resolve, settings, people, kwargs, expected = case(root, daemon.address)
        report, lines, shown = run_attended(script, resolve, settings, people, **kwargs)
    finally:
        daemon.stop()

    assert not report.ok or expected == "no queued restores"
    assert any(expected in line for line in lines), lines
    assert shown == ["\n".join(lines)]  # one window holding every printed line
