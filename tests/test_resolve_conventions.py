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
