"""The menu scripts end to end: fake Resolve, real daemon on loopback (preview engine), real media files.

Each test checks where the restored clip lands (record frame, length, track or take), which
source frames it shows (read back through the fake's timecode-absolute source frames), and that
the restored media really holds those frames (every test frame shows its own index as bars).
"""

from __future__ import annotations

import json
import socket
from fractions import Fraction
from pathlib import Path

import pytest
from daemon_support import start_daemon
from fakes.resolve import FakeMediaPoolItem, FakeTimelineItem
from media_patterns import write_exr_sequence, write_movie
from resolve_support import NTSC_FILM, load_script, new_project, shown_indices, write_settings

from vividvr_client.client import DaemonClient

RESTORE = "Restore with Vivid-VR.py"
COLLECT = "Collect Vivid-VR restores.py"


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


def movie(root: Path, name: str, rate: Fraction, frames: int = 40, timecode: str | None = "01:00:00:00") -> str:
    return str(write_movie(root / "media" / name, "mjpeg", rate, frames, pix_fmt="yuvj420p", timecode=timecode))


def run(script: str, resolve, settings: Path, **kwargs):  # type: ignore[no-untyped-def]
    lines: list[str] = []
    report = load_script(script).main(resolve=resolve, settings_path=str(settings), out=lines.append, **kwargs)
    return report, lines


def assert_shows(item, media_first: int, frames: list[int]) -> None:  # type: ignore[no-untyped-def]
    """The restored media under `item` holds exactly `frames` (bar indices) where the item shows it."""
    mpi = item.GetMediaPoolItem()
    path = mpi.GetClipProperty("File Path")
    assert shown_indices(path, media_first, item.media_start, item.media_count) == frames


def test_23976_clip_with_start_tc_trimmed_with_handles_comes_back_as_a_take(root: Path, daemon) -> None:
    resolve, timeline = new_project(NTSC_FILM)
    clip = resolve.project.pool.ImportMedia([movie(root, "plate.mov", NTSC_FILM)])[0]
    item = timeline.fake_place(clip, start=10, count=20, record=86400 + 48)
    timeline.fake_select(item)
    before = (item.GetStart(), item.GetEnd(), item.GetSourceStartFrame(), item.GetSourceEndFrame())
    assert before == (86448, 86468, 86410, 86430)  # source frames are timecode-absolute at 01:00:00:00

    report, lines = run(RESTORE, resolve, write_settings(root, daemon.address))

    assert report.ok, lines
    restored = item.GetMediaPoolItem()
    assert restored is not clip and item.GetTakesCount() == 2 and item.GetSelectedTakeIndex() == 2
    assert (item.GetStart(), item.GetEnd(), item.GetSourceStartFrame(), item.GetSourceEndFrame()) == before
    bins = {f.GetName(): f for f in resolve.project.pool.GetRootFolder().GetSubFolderList()}
    assert restored in bins["VividVR Restored"].GetClipList()
    assert resolve.project.pool.GetCurrentFolder() is resolve.project.pool.GetRootFolder()
    # handles of 4 each side were restored: the restored movie starts at source frame 6 (TC 01:00:00:06)
    assert restored.GetClipProperty("Start TC") == "01:00:00:06" and restored.frames == 28
    assert_shows(item, 0, list(range(10, 30)))
    assert item.GetClipColor() == "Teal"
    (marker,) = item.GetMarkers().values()
    record = json.loads(marker["customData"])["vividvr"]
    assert record["state"] == "restored" and record["job"] in marker["note"]
    assert restored.GetThirdPartyMetadata("VividVR Job") == record["job"]


def test_track_placement_skips_an_occupied_track_and_keeps_record_frame_and_length(root: Path, daemon) -> None:
    resolve, timeline = new_project(Fraction(24))
    clip = resolve.project.pool.ImportMedia([movie(root, "plate.mov", Fraction(24))])[0]
    item = timeline.fake_place(clip, start=2, count=16, record=86400 + 10)
    blocker = timeline.fake_place(clip, start=30, count=5, record=86400 + 20, track=2)  # overlaps on V2
    timeline.fake_select(item)

    report, lines = run(RESTORE, resolve, write_settings(root, daemon.address, placement="track", handles=50))

    assert report.ok, lines
    assert timeline.GetItemListInTrack("video", 2) == [blocker]
    (placed,) = timeline.GetItemListInTrack("video", 3)
    assert (placed.GetStart(), placed.GetDuration()) == (item.GetStart(), item.GetDuration())
    assert (placed.GetSourceStartFrame(), placed.GetSourceEndFrame()) == (86402, 86418)
    assert item.GetMediaPoolItem() is clip and item.GetTakesCount() == 0
    assert placed.GetMediaPoolItem().frames == 40  # handles clamped to the media: 2 before, 22 after
    assert_shows(placed, 0, list(range(2, 18)))
    assert placed.GetClipColor() == "Teal"


def test_clip_whose_rate_differs_from_the_timeline(root: Path, daemon) -> None:
    resolve, timeline = new_project(Fraction(24))
    clip = resolve.project.pool.ImportMedia([movie(root, "pal.mov", Fraction(25), frames=48)])[0]
    item = timeline.fake_place(clip, start=8, count=26, record=86400)
    timeline.fake_select(item)
    # 25 fps source frames are timecode-absolute on its own clock (01:00:00:00 = 90000); end inclusive
    before = (item.GetStart(), item.GetDuration(), item.GetSourceStartFrame(), item.GetSourceEndFrame())
    assert before == (86400, 25, 90008, 90033)

    report, lines = run(RESTORE, resolve, write_settings(root, daemon.address))

    assert report.ok, lines
    assert (item.GetStart(), item.GetDuration(), item.GetSourceStartFrame(), item.GetSourceEndFrame()) == before
    assert item.GetMediaPoolItem().GetClipProperty("Start TC") == "01:00:00:04"
    assert_shows(item, 0, list(range(8, 34)))


def test_exr_sequence_clip_comes_back_as_a_sequence(root: Path, daemon) -> None:
    resolve, timeline = new_project(Fraction(24))
    pattern = write_exr_sequence(root / "media" / "plates", 1001, 30)
    clip = resolve.project.pool.ImportMedia(
        [{"FilePath": str(pattern).replace("####", "%04d"), "StartIndex": 1001, "EndIndex": 1030}])[0]
    item = timeline.fake_place(clip, start=5, count=15, record=86400 + 100)
    timeline.fake_select(item)
    before = (item.GetStart(), item.GetEnd(), item.GetSourceStartFrame(), item.GetSourceEndFrame())

    report, lines = run(RESTORE, resolve, write_settings(root, daemon.address, output_format="exr"))

    assert report.ok, lines
    restored = item.GetMediaPoolItem()
    assert restored.GetClipProperty("File Path").endswith(".[1002-1024].exr")  # files numbered as the source
    assert (item.GetStart(), item.GetEnd(), item.GetSourceStartFrame(), item.GetSourceEndFrame()) == before
    assert_shows(item, 1002, list(range(5, 20)))


def test_two_selected_clips_each_come_back_in_place(root: Path, daemon) -> None:
    resolve, timeline = new_project(Fraction(24))
    first = resolve.project.pool.ImportMedia([movie(root, "a.mov", Fraction(24))])[0]
    second = resolve.project.pool.ImportMedia([movie(root, "b.mov", Fraction(24), timecode="10:00:00:00")])[0]
    a = timeline.fake_place(first, start=0, count=12, record=86400)
    b = timeline.fake_place(second, start=20, count=10, record=86400 + 12)
    timeline.fake_select(a, b)

    report, lines = run(RESTORE, resolve, write_settings(root, daemon.address))

    assert report.ok, lines
    assert [o.status for o in report.outcomes] == ["restored", "restored"]
    assert (a.GetSourceStartFrame(), a.GetSourceEndFrame()) == (86400, 86412)
    assert (b.GetSourceStartFrame(), b.GetSourceEndFrame()) == (864020, 864030)
    assert_shows(a, 0, list(range(0, 12)))
    assert_shows(b, 0, list(range(20, 30)))
    assert a.GetMediaPoolItem().GetClipProperty("Start TC") == "01:00:00:00"  # no handle before frame 0


def test_queue_then_collect_brings_finished_jobs_back(root: Path, daemon) -> None:
    resolve, timeline = new_project(Fraction(24))
    clip = resolve.project.pool.ImportMedia([movie(root, "plate.mov", Fraction(24))])[0]
    item = timeline.fake_place(clip, start=6, count=14, record=86400)
    timeline.fake_select(item)
    settings = write_settings(root, daemon.address, mode="queue")

    report, lines = run(RESTORE, resolve, settings)

    assert report.ok, lines
    (outcome,) = report.outcomes
    assert outcome.status == "queued" and item.GetMediaPoolItem() is clip
    (marker,) = item.GetMarkers().values()
    assert json.loads(marker["customData"])["vividvr"] == {
        "job": outcome.job_id, "state": "queued", "offset": 6, "count": 14, "placement": "take"}
    with DaemonClient(daemon.address) as client:
        assert list(client.watch(outcome.job_id))[-1].WhichOneof("kind") == "completed"

    report, lines = run(COLLECT, resolve, settings)

    assert report.ok, lines
    assert [o.status for o in report.outcomes] == ["restored"]
    assert item.GetMediaPoolItem() is not clip and item.GetSourceStartFrame() == 86406
    assert_shows(item, 0, list(range(6, 20)))
    (marker,) = item.GetMarkers().values()
    assert json.loads(marker["customData"])["vividvr"]["state"] == "restored"
    report, lines = run(COLLECT, resolve, settings)  # nothing queued any more: nothing happens twice
    assert report.outcomes == [] and item.GetTakesCount() == 2


def test_nothing_selected_says_so_and_changes_nothing(root: Path, daemon) -> None:
    resolve, timeline = new_project(Fraction(24), version=(20, 2, 0))  # no Timeline.GetSelectedClips
    clip = resolve.project.pool.ImportMedia([movie(root, "plate.mov", Fraction(24))])[0]
    timeline.fake_place(clip, start=0, count=10, record=86400)
    timeline.playhead = 86400 + 50  # over nothing
    changes = resolve.changes

    report, lines = run(RESTORE, resolve, write_settings(root, daemon.address))

    assert not report.ok
    assert lines == ["Vivid-VR: Nothing to restore: select video clips on the timeline (or put the playhead over"
                     " one, or select clips in the media pool)"]
    assert resolve.changes == changes


def test_audio_generators_and_compound_clips_are_skipped_with_reasons(root: Path, daemon) -> None:
    resolve, timeline = new_project(Fraction(24))
    pool = resolve.project.pool
    clip = pool.ImportMedia([movie(root, "plate.mov", Fraction(24))])[0]
    compound = FakeMediaPoolItem.fake_other("Compound Clip 1", "Compound")
    generator = timeline.fake_add_item(FakeTimelineItem.fake_generator(timeline, "Solid Color", 86400, 24))
    nested = timeline.fake_add_item(FakeTimelineItem(timeline, compound, 0, 24, 86400, 2), track=2)
    timeline.fake_select(generator, nested)
    changes = resolve.changes

    report, lines = run(RESTORE, resolve, write_settings(root, daemon.address))

    assert not report.ok and resolve.changes == changes
    assert "Solid Color is a generator, title or effect (no media file)" in lines[0]
    assert "Compound Clip 1 is a compound clip" in lines[0]

    usable = timeline.fake_place(clip, start=0, count=10, record=86400 + 100)
    timeline.fake_select(generator, usable)
    report, lines = run(RESTORE, resolve, write_settings(root, daemon.address))
    assert report.ok, lines
    assert [o.status for o in report.outcomes] == ["skipped", "restored"]


def test_playhead_clip_is_used_when_the_release_cannot_report_a_selection(root: Path, daemon) -> None:
    resolve, timeline = new_project(Fraction(24), version=(20, 2, 0))
    clip = resolve.project.pool.ImportMedia([movie(root, "plate.mov", Fraction(24))])[0]
    other = timeline.fake_place(clip, start=0, count=10, record=86400)
    item = timeline.fake_place(clip, start=20, count=8, record=86410)
    timeline.fake_select(other)  # invisible to this release
    timeline.playhead = 86412

    report, lines = run(RESTORE, resolve, write_settings(root, daemon.address))

    assert report.ok, lines
    assert other.GetTakesCount() == 0 and item.GetTakesCount() == 2
    assert_shows(item, 0, list(range(20, 28)))


def test_media_pool_selection_is_restored_into_the_bin(root: Path, daemon) -> None:
    resolve, _ = new_project(Fraction(24))
    pool = resolve.project.pool
    clip = pool.ImportMedia([movie(root, "plate.mov", Fraction(24), frames=12)])[0]
    pool.SetSelectedClip(clip)

    report, lines = run(RESTORE, resolve, write_settings(root, daemon.address))

    assert report.ok, lines
    (restored_bin,) = pool.GetRootFolder().GetSubFolderList()
    (restored,) = restored_bin.GetClipList()
    assert restored.frames == 12 and restored.GetClipProperty("Start TC") == "01:00:00:00"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_daemon_not_running_gives_a_clear_message_and_changes_nothing(root: Path) -> None:
    resolve, timeline = new_project(Fraction(24))
    clip = resolve.project.pool.ImportMedia([movie(root, "plate.mov", Fraction(24))])[0]
    item = timeline.fake_place(clip, start=0, count=10, record=86400)
    timeline.fake_select(item)
    changes = resolve.changes
    address = f"127.0.0.1:{free_port()}"

    report, lines = run(RESTORE, resolve, write_settings(root, address, connect_timeout=1.0))

    assert not report.ok
    assert lines == [f"Vivid-VR: No VividVR daemon answers at {address}. Start it with `vividvr daemon start`"
                     " (or set the daemon address in the dialog); nothing was changed in the project."]
    assert resolve.changes == changes and item.GetMarkers() == {}
    assert resolve.project.pool.GetRootFolder().GetSubFolderList() == []
