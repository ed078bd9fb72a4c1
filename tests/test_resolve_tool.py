"""The Fusion Tool script (node right-click) and collecting media-pool and cancelled queued jobs."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from daemon_support import start_daemon
from media_patterns import write_exr_sequence, write_movie
from resolve_support import load_script, new_project, shown_indices, write_settings

from vividvr_client.client import DaemonClient
from vividvr_resolve.host import loader_source

TOOL = "Restore with Vivid-VR (Fusion Tool).py"


class FakeTool:
    """A Fusion tool: GetAttrs() answers Lua tables as dicts keyed from 1."""

    def __init__(self, attrs: dict) -> None:
        self.attrs = attrs

    def GetAttrs(self) -> dict:
        return dict(self.attrs)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "media").mkdir()
    (tmp_path / "out").mkdir()
    return tmp_path


def plate(root: Path, frames: int = 30) -> str:
    return str(write_movie(root / "media" / "plate.mov", "mjpeg", Fraction(24), frames, pix_fmt="yuvj420p",
                           timecode="01:00:00:00"))


def run(script: str, resolve, settings: Path, **kwargs):  # type: ignore[no-untyped-def]
    lines: list[str] = []
    return load_script(script).main(resolve=resolve, settings_path=str(settings), out=lines.append, **kwargs), lines


def test_media_in_node_restores_the_clip_open_on_the_fusion_page(root: Path) -> None:
    daemon = start_daemon(root)
    try:
        resolve, timeline = new_project(Fraction(24))
        clip = resolve.project.pool.ImportMedia([plate(root)])[0]
        item = timeline.fake_place(clip, start=3, count=9, record=86400)
        timeline.playhead = 86402
        tool = FakeTool({"TOOLS_RegID": "MediaIn", "TOOLS_Name": "MediaIn1"})

        report, lines = run(TOOL, resolve, write_settings(root, daemon.address), tool=tool)
    finally:
        daemon.stop()

    assert report.ok, lines
    assert item.GetTakesCount() == 2 and (item.GetSourceStartFrame(), item.GetSourceEndFrame()) == (86403, 86412)


def test_loader_node_restores_its_trimmed_file_into_the_bin(root: Path) -> None:
    daemon = start_daemon(root)
    try:
        resolve, _ = new_project(Fraction(24))
        tool = FakeTool({"TOOLS_RegID": "Loader", "TOOLS_Name": "Loader1", "TOOLST_Clip_Name": {1: plate(root)},
                         "TOOLIT_Clip_TrimIn": {1: 5}, "TOOLIT_Clip_TrimOut": {1: 14}})

        report, lines = run(TOOL, resolve, write_settings(root, daemon.address), tool=tool)
    finally:
        daemon.stop()

    assert report.ok, lines
    (restored_bin,) = resolve.project.pool.GetRootFolder().GetSubFolderList()
    (restored,) = restored_bin.GetClipList()
    assert restored.frames == 10 and restored.GetClipProperty("Start TC") == "01:00:00:05"
    assert shown_indices(restored.GetClipProperty("File Path"), 0, 0, 10) == list(range(5, 15))


def test_other_nodes_are_refused_by_name(root: Path) -> None:
    resolve, _ = new_project(Fraction(24))
    report, lines = run(TOOL, resolve, write_settings(root, "127.0.0.1:1"),
                        tool=FakeTool({"TOOLS_RegID": "Blur", "TOOLS_Name": "Blur1"}))
    assert not report.ok and lines == ["Vivid-VR: Blur1 is a Blur, not a MediaIn or Loader"]


def test_loader_sequence_frames_become_file_numbers(tmp_path: Path) -> None:
    pattern = write_exr_sequence(tmp_path, 1001, 5)
    first = str(pattern).replace("####", "1001")
    tool = FakeTool({"TOOLST_Clip_Name": {1: first}, "TOOLIT_Clip_TrimIn": {1: 1}, "TOOLIT_Clip_TrimOut": {1: 3}})
    assert loader_source(tool) == (str(pattern), "1002-1004")
    assert loader_source(FakeTool({"TOOLST_Clip_Name": {1: "/m/take2.mov"}})) == ("/m/take2.mov", "")


def test_queued_media_pool_clip_is_collected_into_the_bin(root: Path) -> None:
    daemon = start_daemon(root)
    try:
        resolve, _ = new_project(Fraction(24))
        pool = resolve.project.pool
        clip = pool.ImportMedia([plate(root, frames=10)])[0]
        pool.SetSelectedClip(clip)
        settings = write_settings(root, daemon.address, mode="queue")
        report, lines = run("Restore with Vivid-VR.py", resolve, settings)
        assert report.ok, lines
        (record,) = json.loads(clip.GetThirdPartyMetadata("VividVR Queued"))
        with DaemonClient(daemon.address) as client:
            assert list(client.watch(record["job"]))[-1].WhichOneof("kind") == "completed"

        report, lines = run("Collect Vivid-VR restores.py", resolve, settings)
    finally:
        daemon.stop()

    assert report.ok, lines
    assert clip.GetThirdPartyMetadata("VividVR Queued") == ""
    (restored_bin,) = pool.GetRootFolder().GetSubFolderList()
    (restored,) = restored_bin.GetClipList()
    assert restored.frames == 10 and restored.GetThirdPartyMetadata("VividVR Job") == record["job"]


def test_collect_leaves_unfinished_jobs_queued_and_marks_cancelled_ones(root: Path) -> None:
    daemon = start_daemon(root, test_segment_delay_seconds=2.0)
    try:
        resolve, timeline = new_project(Fraction(24))
        clip = resolve.project.pool.ImportMedia([plate(root)])[0]
        first = timeline.fake_place(clip, start=0, count=20, record=86400)
        second = timeline.fake_place(clip, start=20, count=10, record=86420)
        timeline.fake_select(first, second)
        settings = write_settings(root, daemon.address, mode="queue")
        report, lines = run("Restore with Vivid-VR.py", resolve, settings)
        assert report.ok, lines
        first_job, second_job = (o.job_id for o in report.outcomes)
        with DaemonClient(daemon.address) as client:
            client.cancel(second_job)

        report, lines = run("Collect Vivid-VR restores.py", resolve, settings)
    finally:
        daemon.stop()

    assert not report.ok  # the cancelled job is reported as failed
    assert [o.status for o in report.outcomes] == ["pending", "failed"]
    assert "Vivid-VR: 1 job(s) not finished yet; run Collect again later" in lines
    (kept,) = first.GetMarkers().values()
    assert json.loads(kept["customData"])["vividvr"]["job"] == first_job
    assert json.loads(kept["customData"])["vividvr"]["state"] == "queued"
    (failed,) = second.GetMarkers().values()
    assert failed["color"] == "Red" and json.loads(failed["customData"])["vividvr"] == {
        "job": second_job, "state": "failed"}
    assert first.GetTakesCount() == second.GetTakesCount() == 0
