"""A tiny edit over two generated sources whose frames carry their index, in OTIO, EDL and FCP XML.

Source `alpha.mov` (24 fps, 01:00:00:00) and `beta.mov` (24 fps, 02:00:00:00) show bar patterns
spelling each frame's index (tests/media_patterns.py). The edit cuts alpha twice with
overlapping source ranges and beta once, so a correct plan restores alpha once and beta once.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
from media_patterns import read_index, write_movie

from vividvr_client.timecode import parse_timecode

RATE = Fraction(24)
SIZE = (32, 24)
SOURCES = {"alpha": ("01:00:00:00", 14), "beta": ("02:00:00:00", 10)}
# (source, first media frame, frame count): alpha 2-5, beta 1-4, alpha 4-8 (overlaps the first use)
EDIT = [("alpha", 2, 4), ("beta", 1, 4), ("alpha", 4, 5)]


def make_sources(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {
        name: write_movie(folder / f"{name}.mov", "prores_ks", RATE, count, SIZE, pix_fmt="yuv422p10le", timecode=tc)
        for name, (tc, count) in SOURCES.items()
    }


def tc_frames(name: str) -> int:
    return parse_timecode(SOURCES[name][0], RATE)


def edit_timeline(sources: dict[str, Path], with_paths: bool = True) -> otio.schema.Timeline:
    timeline = otio.schema.Timeline(name="tiny_edit")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for name, first, count in EDIT:
        start = tc_frames(name)
        available = otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, 24), otio.opentime.RationalTime(SOURCES[name][1], 24)
        )
        ref = (otio.schema.ExternalReference(target_url=sources[name].as_uri(), available_range=available)
               if with_paths else otio.schema.MissingReference())
        track.append(otio.schema.Clip(
            name=name, media_reference=ref,
            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(start + first, 24),
                                                 otio.opentime.RationalTime(count, 24)),
        ))
    return timeline


def edit_edl() -> str:
    """The same edit as a CMX 3600 EDL: reels named like the files, no paths (relinked by reel + timecode)."""
    lines = ["TITLE: tiny_edit", "FCM: NON-DROP FRAME", ""]
    record = parse_timecode("10:00:00:00", RATE)
    for n, (name, first, count) in enumerate(EDIT, 1):
        src = tc_frames(name) + first
        tcs = [otio.opentime.to_timecode(otio.opentime.RationalTime(v, 24), 24)
               for v in (src, src + count, record, record + count)]
        lines.append(f"{n:03d}  {name.upper():<8} V     C        {' '.join(tcs)}")
        record += count
    return "\n".join(lines) + "\n"


def shown_indices(clip: otio.schema.Clip, rows: slice = slice(None)) -> list[int]:
    """The frame indices (as the bars in `rows` spell them) a conformed clip shows, read from its restored media."""
    from media_patterns import movie_frames

    ref = clip.media_reference
    assert isinstance(ref, otio.schema.ExternalReference), ref
    path = otio.url_utils.filepath_from_url(ref.target_url) if ref.target_url.startswith("file:") else ref.target_url
    offset = round(clip.source_range.start_time.value - ref.available_range.start_time.value)
    count = round(clip.source_range.duration.value)
    return [read_index(frame[rows]) for frame in movie_frames(Path(path), offset, offset + count)]


def original_indices(clip: otio.schema.Clip, name: str) -> list[int]:
    first = round(clip.source_range.start_time.value) - tc_frames(name)
    return list(range(first, first + round(clip.source_range.duration.value)))
