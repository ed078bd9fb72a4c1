"""Resolve end to end over the combinations that matter, under both readings of every ASSUMED convention.

Fake Resolve (switches in `fakes.resolve.Conventions`), real daemon on loopback (preview engine),
real media whose frames show their own index. Each case restores a movie and an image sequence
trimmed inside their media, at 00:00:00:00, 01:00:00:00 or 29.97 drop-frame time of day, at the
timeline's rate or another, as a take or on a free track, and reads back which frames land where.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from daemon_support import start_daemon
from fakes.resolve import ASSUMED, Conventions
from media_patterns import write_exr_sequence, write_movie
from resolve_support import load_script, new_project, shown_indices, write_settings

from vividvr_resolve.host import clip_media

NTSC_VIDEO = Fraction(30000, 1001)
TIMECODES = {  # case -> (start timecode, clip rate, another rate for the timeline)
    "zero": ("00:00:00:00", Fraction(24), Fraction(25)),
    "hour": ("01:00:00:00", Fraction(24000, 1001), Fraction(25)),
    "drop-frame time of day": ("04:18:37;25", NTSC_VIDEO, Fraction(24)),
}
READINGS = {"hosts.md": {}, "other reading": ASSUMED}
FRAMES, START, COUNT = 14, 4, 6  # media frames; the item shows media frames 4..9


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("resolve_conventions")
    server = start_daemon(root)
    yield root, server
    server.stop()


def build(root: Path, case: str, relation: str, reading: str):  # type: ignore[no-untyped-def]
    """A project with a movie and an image sequence of the case's timecode, each trimmed on the timeline."""
    timecode, clip_rate, other = TIMECODES[case]
    timeline_rate = clip_rate if relation == "same rate" else other
    resolve, timeline = new_project(timeline_rate, conventions=Conventions(**READINGS[reading]))
    folder = root / "media" / f"{case}_{relation}_{reading}".replace(" ", "_").replace(".", "")
    folder.mkdir(parents=True, exist_ok=True)
    movie = write_movie(folder / "plate.mov", "mjpeg", clip_rate, FRAMES, size=(32, 24), pix_fmt="yuvj420p",
                        timecode=timecode)
    pattern = write_exr_sequence(folder / "seq", 1001, FRAMES, size=(32, 24))
    pool = resolve.project.pool
    (movie_clip,) = pool.ImportMedia([str(movie)])
    (sequence_clip,) = pool.ImportMedia([{"FilePath": str(pattern).replace("####", "%04d"), "StartIndex": 1001,
                                          "EndIndex": 1000 + FRAMES}])
    assert sequence_clip.SetClipProperty("FPS", str(clip_rate)) and sequence_clip.SetClipProperty("Start TC", timecode)
    items = [timeline.fake_place(clip, START, COUNT, 86400 + 100 * n) for n, clip in enumerate((movie_clip,
                                                                                               sequence_clip))]
    timeline.fake_select(*items)
    return resolve, timeline, items


def shows(item) -> list[int]:  # type: ignore[no-untyped-def]
    """The frame indices (bars) the media under `item` holds where the item shows it."""
    media = clip_media(item.GetMediaPoolItem())
    return shown_indices(media.path.replace("####", "%04d"), media.first_number, item.GetLeftOffset(),
                         item.GetDuration() if item.mpi.rate == item.timeline.rate else item.media_count)


@pytest.mark.parametrize("reading", list(READINGS))
@pytest.mark.parametrize("placement", ["take", "track"])
@pytest.mark.parametrize("relation", ["same rate", "other rate"])
@pytest.mark.parametrize("case", list(TIMECODES))
def test_trimmed_clips_come_back_frame_exact(daemon, case: str, relation: str, placement: str,  # type: ignore[no-untyped-def]
                                             reading: str) -> None:
    root, server = daemon
    resolve, timeline, items = build(root, case, relation, reading)
    before = [(i.GetStart(), i.GetDuration()) for i in items]
    settings = write_settings(root, server.address, placement=placement, handles=2, output_format="exr")

    lines: list[str] = []
    report = load_script("Restore with Vivid-VR.py").main(resolve=resolve, settings_path=str(settings),
                                                          out=lines.append)

    assert report.ok, lines
    assert [o.status for o in report.outcomes] == ["restored", "restored"], lines
    assert not any("warning" in o.message for o in report.outcomes), lines
    for item, (start, duration) in zip(items, before, strict=True):
        if placement == "take":
            placed = item
            assert item.GetTakesCount() == 2 and item.GetSelectedTakeIndex() == 2
        else:
            (placed,) = [i for i in timeline.GetItemListInTrack("video", 2) if i.GetStart() == start]
            assert item.GetTakesCount() == 0
        assert (placed.GetStart(), placed.GetDuration()) == (start, duration)
        assert placed.GetLeftOffset() == 2  # two handle frames before, in the restored file
        assert placed.media_count == COUNT
        assert shows(placed) == list(range(START, START + COUNT))
        assert placed.GetClipColor() == "Teal" and len(placed.GetMarkers()) == 1
    bins = {f.GetName(): f for f in resolve.project.pool.GetRootFolder().GetSubFolderList()}
    assert len(bins["VividVR Restored"].GetClipList()) == 2


def restore(root: Path, server, resolve, **settings):  # type: ignore[no-untyped-def]
    lines: list[str] = []
    path = write_settings(root, server.address, handles=2, output_format="exr", **settings)
    return load_script("Restore with Vivid-VR.py").main(resolve=resolve, settings_path=str(path),
                                                        out=lines.append), lines


def snapshot(resolve, timeline) -> list:  # type: ignore[no-untyped-def]
    """Everything an artist sees on the timeline: tracks, items, what each shows, takes, colours, markers."""
    return [len(timeline.tracks)] + [
        (i.track, i.GetStart(), i.GetDuration(), i.GetMediaPoolItem().GetUniqueId(), i.GetLeftOffset(),
         i.GetTakesCount(), i.GetClipColor(), i.GetMarkers()) for track in timeline.tracks for i in track]


def test_a_take_resolve_fills_from_the_whole_clip_is_removed_and_the_clip_goes_on_a_free_track(daemon) -> None:  # type: ignore[no-untyped-def]
    root, server = daemon
    resolve, timeline, items = build(root, "hour", "same rate", "hosts.md")
    resolve.conventions.take_range = "whole clip"
    originals = [(i.GetMediaPoolItem(), i.GetLeftOffset(), i.GetDuration()) for i in items]

    report, lines = restore(root, server, resolve)

    assert report.ok, lines
    for item, outcome, original in zip(items, report.outcomes, originals, strict=True):
        assert item.GetTakesCount() == 0  # the take selector is gone again
        assert (item.GetMediaPoolItem(), item.GetLeftOffset(), item.GetDuration()) == original
        assert "warning: Resolve's take could not be verified" in outcome.message and "on V2" in outcome.message
        (placed,) = [i for i in timeline.GetItemListInTrack("video", 2) if i.GetStart() == item.GetStart()]
        assert shows(placed) == list(range(START, START + COUNT))


@pytest.mark.parametrize(("switch", "value"), [("source_frame_slip", 1), ("source_frame_slip", -1),
                                               ("source_end_inclusive_when_rates_differ", False)])
def test_source_frames_one_frame_off_the_offsets_still_land_exact(daemon, switch: str, value: object) -> None:  # type: ignore[no-untyped-def]
    root, server = daemon
    resolve, _timeline, items = build(root, "drop-frame time of day", "other rate", "hosts.md")
    setattr(resolve.conventions, switch, value)

    report, lines = restore(root, server, resolve)

    assert report.ok, lines
    assert [shows(i) for i in items] == [list(range(START, START + COUNT))] * 2


def test_readings_that_disagree_refuse_the_clip_by_name_and_change_nothing(daemon) -> None:  # type: ignore[no-untyped-def]
    root, server = daemon
    resolve, timeline, _items = build(root, "hour", "same rate", "hosts.md")
    resolve.conventions.source_frame_slip = 3
    before, changes = snapshot(resolve, timeline), resolve.changes

    report, lines = restore(root, server, resolve)

    assert not report.ok
    assert "plate.mov reports two different source ranges" in lines[0] and "Clip Attributes" in lines[0]
    assert snapshot(resolve, timeline) == before and resolve.changes == changes


def test_an_import_that_lands_in_another_bin_is_moved_and_a_colour_that_does_not_show_is_a_warning(daemon) -> None:  # type: ignore[no-untyped-def]
    root, server = daemon
    resolve, _timeline, _items = build(root, "zero", "same rate", "hosts.md")
    resolve.conventions.import_into = "root"
    resolve.conventions.clip_color_sticks = False

    report, lines = restore(root, server, resolve)

    assert report.ok, lines
    (restored_bin,) = resolve.project.pool.GetRootFolder().GetSubFolderList()
    assert len(restored_bin.GetClipList()) == 2
    assert all("warning: Resolve did not colour" in o.message for o in report.outcomes)


def test_a_track_placement_that_cannot_be_verified_leaves_the_timeline_as_it_was(daemon) -> None:  # type: ignore[no-untyped-def]
    root, server = daemon
    resolve, timeline, _items = build(root, "zero", "same rate", "hosts.md")
    resolve.conventions.append_base = -3  # three frames off: not a counting convention the plugin may correct
    before = snapshot(resolve, timeline)
    clips = len(resolve.project.pool.GetRootFolder().GetClipList())

    report, lines = restore(root, server, resolve, placement="track")

    assert not report.ok
    assert all("could not bring it back" in o.message and "nothing was left on the timeline" in o.message
               for o in report.outcomes), lines
    assert snapshot(resolve, timeline) == before
    (restored_bin,) = resolve.project.pool.GetRootFolder().GetSubFolderList()
    assert restored_bin.GetClipList() == [] and len(resolve.project.pool.GetRootFolder().GetClipList()) == clips
