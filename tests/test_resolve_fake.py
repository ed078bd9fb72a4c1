"""The fake Resolve really has the traps hosts.md lists, so the plugin tests can fail for the right reasons."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from fakes.resolve import ASSUMED, Conventions
from media_patterns import write_movie
from resolve_support import new_project


def plate(tmp_path: Path, rate: Fraction = Fraction(24)) -> str:
    path = tmp_path / f"plate_{rate.numerator}.mov"
    return str(write_movie(path, "mjpeg", rate, 30, pix_fmt="yuvj420p", timecode="01:00:00:00"))


def test_the_bridge_fabricates_methods_so_only_dir_tells_what_exists() -> None:
    _, timeline = new_project(Fraction(24), version=(20, 2, 0))
    assert callable(timeline.GetSelectedClips) and timeline.GetSelectedClips() is None
    assert "GetSelectedClips" not in dir(timeline) and "GetCurrentVideoItem" in dir(timeline)
    _, timeline = new_project(Fraction(24), version=(21, 0, 4))
    assert "GetSelectedClips" in dir(timeline) and timeline.GetSelectedClips() == []
    assert timeline.NoSuchCall(1, 2) is None


def test_overlapping_append_is_silently_dropped_and_end_frame_is_exclusive(tmp_path: Path) -> None:
    resolve, timeline = new_project(Fraction(24))
    pool = resolve.project.pool
    clip = pool.ImportMedia([plate(tmp_path)])[0]
    first = pool.AppendToTimeline([{"mediaPoolItem": clip, "startFrame": 0, "endFrame": 10, "recordFrame": 86400,
                                    "trackIndex": 1, "mediaType": 1}])
    assert first[0].GetDuration() == 10 and first[0].GetEnd() == 86410
    dropped = pool.AppendToTimeline([{"mediaPoolItem": clip, "startFrame": 0, "endFrame": 5, "recordFrame": 86405,
                                      "trackIndex": 1, "mediaType": 1}])
    assert dropped == [] and len(timeline.GetItemListInTrack("video", 1)) == 1


def test_imports_land_in_the_current_folder(tmp_path: Path) -> None:
    resolve, _ = new_project(Fraction(24))
    pool = resolve.project.pool
    folder = pool.AddSubFolder(pool.GetRootFolder(), "Elsewhere")
    pool.SetCurrentFolder(folder)
    (clip,) = pool.ImportMedia([plate(tmp_path)])
    assert folder.GetClipList() == [clip] and pool.GetRootFolder().GetClipList() == []


def test_source_frames_are_file_relative_seconds_are_timecode_and_the_end_depends_on_the_rates(
        tmp_path: Path) -> None:
    resolve, timeline = new_project(Fraction(24))
    same = resolve.project.pool.ImportMedia([plate(tmp_path)])[0]  # media at 01:00:00:00
    item = timeline.fake_place(same, 5, 10, 86400)
    assert (item.GetSourceStartFrame(), item.GetSourceEndFrame(), item.GetLeftOffset()) == (5, 15, 5)  # exclusive
    assert item.GetSourceStartTime() == pytest.approx(3600 + 5 / 24)
    other = resolve.project.pool.ImportMedia([plate(tmp_path, Fraction(25))])[0]
    item = timeline.fake_place(other, 5, 10, 86500)
    assert (item.GetSourceStartFrame(), item.GetSourceEndFrame()) == (5, 14)  # inclusive


def test_the_drop_frame_numbers_hosts_md_measured(tmp_path: Path) -> None:
    """04:18:37;25 media, 300 frames in: GetSourceStartTime 15527.812 s, GetSourceStartFrame 300."""
    rate = Fraction(30000, 1001)
    resolve, timeline = new_project(rate)
    path = write_movie(tmp_path / "tod.mov", "mjpeg", rate, 310, size=(32, 24), pix_fmt="yuvj420p",
                       timecode="04:18:37;25")
    item = timeline.fake_place(resolve.project.pool.ImportMedia([str(path)])[0], 300, 5, 86400)
    assert item.GetSourceStartFrame() == 300 and round(item.GetSourceStartTime(), 3) == 15527.812


def test_each_assumed_convention_flips(tmp_path: Path) -> None:
    resolve, timeline = new_project(Fraction(24))
    resolve.conventions = Conventions(**ASSUMED)
    clip = resolve.project.pool.ImportMedia([plate(tmp_path)])[0]
    item = timeline.fake_place(clip, 5, 10, 86400)
    assert item.GetLeftOffset() == 5 and item.GetDuration() == 10  # fake_place asks in the flipped counting
    assert item.AddTake(clip, 3, 6) and item.SelectTakeByIndex(2)  # from 1, end inclusive: indices 2..5
    assert (item.GetLeftOffset(), item.GetDuration()) == (2, 4) and item.GetTakeByIndex(2)["endFrame"] == 6
    assert item.AddMarker(0, "Blue", "m", "", 1) is False and item.AddMarker(2, "Blue", "m", "", 1)  # media frames
    other = resolve.project.pool.ImportMedia([plate(tmp_path, Fraction(25))])[0]
    assert timeline.fake_place(other, 0, 25, 86500).GetDuration() == 25  # frame for frame


def test_only_the_sixteen_clip_colours_are_accepted(tmp_path: Path) -> None:
    resolve, timeline = new_project(Fraction(24))
    item = timeline.fake_place(resolve.project.pool.ImportMedia([plate(tmp_path)])[0], 0, 5, 86400)
    assert item.SetClipColor("Red") is False and item.GetClipColor() == ""
    assert item.SetClipColor("Chocolate") is True
