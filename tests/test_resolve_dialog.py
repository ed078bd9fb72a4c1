"""The dialog through a fake UIManager: choices are saved and used, bad values keep it open, progress is drawn."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from daemon_support import start_daemon
from fakes.resolve import FakeBmd, FakeFusion
from media_patterns import write_movie
from resolve_support import load_script, new_project, write_settings

from vividvr_resolve.dialog import bar


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "media").mkdir()
    (tmp_path / "out").mkdir()
    return tmp_path


@pytest.fixture
def daemon(root: Path):  # type: ignore[no-untyped-def]
    server = start_daemon(root)
    yield server
    server.stop()


def project(root: Path):  # type: ignore[no-untyped-def]
    resolve, timeline = new_project(Fraction(24))
    path = write_movie(root / "media" / "plate.mov", "mjpeg", Fraction(24), 30, pix_fmt="yuvj420p",
                       timecode="01:00:00:00")
    clip = resolve.project.pool.ImportMedia([str(path)])[0]
    item = timeline.fake_place(clip, start=4, count=12, record=86400)
    timeline.fake_select(item)
    return resolve, item


def run_with_ui(resolve, settings: Path, actors: list) -> tuple:  # type: ignore[no-untyped-def]
    """The menu script as Resolve runs it: globals `bmd` and `fusion`, no `resolve` (found via bmd.scriptapp)."""
    script = load_script("Restore with Vivid-VR.py")
    script.bmd, script.fusion = FakeBmd(resolve, actors), FakeFusion()
    lines: list[str] = []
    report = script.main(settings_path=str(settings), out=lines.append)
    return report, lines, getattr(script.bmd, "dispatcher", None)


def fill(**values: object):  # type: ignore[no-untyped-def]
    """A person who sets widgets (combo by text) and clicks Restore."""

    def act(window) -> None:  # type: ignore[no-untyped-def]
        items = window.GetItems()
        for widget_id, value in values.items():
            widget = items[widget_id]
            if widget.kind == "ComboBox":
                widget.CurrentIndex = widget.items.index(value)
            elif widget.kind == "SpinBox":
                widget.Value = value
            else:
                widget.Text = value
        window.fake_click("Restore")

    return act


def test_choices_are_saved_and_queue_mode_returns_at_once(root: Path, daemon) -> None:
    resolve, item = project(root)
    settings = write_settings(root, daemon.address, interactive=True)

    report, lines, dispatcher = run_with_ui(resolve, settings, [fill(
        Preset="Draft", Handles=2, Caption="a foggy harbour", Mode="Queue for overnight",
        Placement="On the first free track above", Color="Orange")])

    assert report.ok, lines
    assert len(dispatcher.windows) == 1  # no progress window when queueing
    saved = json.loads(settings.read_text())
    assert (saved["preset"], saved["handles"], saved["caption"], saved["mode"], saved["placement"],
            saved["clip_color"]) == ("Draft", 2, "a foggy harbour", "queue", "track", "Orange")
    (marker,) = item.GetMarkers().values()
    record = json.loads(marker["customData"])["vividvr"]
    assert record["placement"] == "track" and record["state"] == "queued"


def test_a_bad_value_keeps_the_dialog_open_with_the_reason(root: Path, daemon) -> None:
    resolve, _item = project(root)
    settings = write_settings(root, daemon.address, interactive=True, mode="queue")
    seen: list[str] = []

    def person(window) -> None:  # type: ignore[no-untyped-def]
        items = window.GetItems()
        items["Guidance"].Text = "lots"
        window.fake_click("Restore")
        seen.append(items["Status"].Text)
        assert window.visible
        items["Guidance"].Text = "5.5"
        window.fake_click("Restore")

    report, lines, _ = run_with_ui(resolve, settings, [person])

    assert seen == ["guidance must be a number, not 'lots'"]
    assert report.ok, lines
    assert json.loads(settings.read_text())["guidance"] == 5.5


def test_cancel_changes_nothing(root: Path, daemon) -> None:
    resolve, _item = project(root)
    settings = write_settings(root, daemon.address, interactive=True)
    before = settings.read_text()
    changes = resolve.changes

    report, _, _ = run_with_ui(resolve, settings, [lambda window: window.fake_click("Cancel")])

    assert report.ok and report.outcomes == []
    assert resolve.changes == changes and settings.read_text() == before


def test_render_now_draws_progress_and_brings_the_clip_back(root: Path, daemon) -> None:
    resolve, item = project(root)
    settings = write_settings(root, daemon.address, interactive=True)

    report, lines, dispatcher = run_with_ui(resolve, settings, [fill()])

    assert report.ok, lines
    _settings_window, progress_window = dispatcher.windows
    items = progress_window.GetItems()
    assert items["Bar"].Text == bar(1.0) and "completed" in items["Line"].Text
    assert item.GetTakesCount() == 2 and (item.GetSourceStartFrame(), item.GetSourceEndFrame()) == (86404, 86416)


def test_progress_bar_is_drawn_in_text() -> None:
    assert bar(0.0) == "[" + "-" * 30 + "]   0%"
    assert bar(0.5) == "[" + "#" * 15 + "-" * 15 + "]  50%"


def test_noninteractive_environment_skips_the_dialog_even_inside_resolve(root: Path, daemon, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    resolve, item = project(root)
    monkeypatch.setenv("VIVIDVR_RESOLVE_NONINTERACTIVE", "1")

    report, lines, dispatcher = run_with_ui(resolve, write_settings(root, daemon.address, interactive=True), [])

    assert report.ok, lines
    assert dispatcher is None and item.GetTakesCount() == 2  # no window was ever made


def test_closing_the_progress_window_early_leaves_the_job_queued_for_collect(root: Path) -> None:
    daemon = start_daemon(root, test_segment_delay_seconds=1.0)
    try:
        resolve, item = project(root)
        settings = write_settings(root, daemon.address, interactive=True)

        def close_at_once(window) -> None:  # type: ignore[no-untyped-def]
            getattr(window.On, window.props["ID"]).Close({"who": "window"})

        report, lines, _ = run_with_ui(resolve, settings, [fill(), close_at_once])
    finally:
        daemon.stop()

    assert report.ok, lines
    (outcome,) = report.outcomes
    assert outcome.status == "queued" and item.GetTakesCount() == 0
    (marker,) = item.GetMarkers().values()
    assert json.loads(marker["customData"])["vividvr"]["job"] == outcome.job_id
