"""Frame arithmetic between a Resolve timeline item, its media, the daemon and the restored media.

Pure functions over plain values read by `host.py`. Numbering used throughout:
- *source frames*: what Resolve reports (`GetSourceStartFrame`), timecode-absolute at the clip's
  own rate (media at 01:00:00:00, 24 fps, starts at 86400);
- *media index*: 0-based position in the media file (what `AppendToTimeline`/`AddTake` take);
- *media number*: the daemon's frame numbers (an image sequence's file number; a movie's index).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

from vividvr_client.otio_json import clip_json, media_of, movie_reference, sequence_reference, split_pattern, time_range
from vividvr_client.timecode import parse_timecode

SAME_RATE = 1e-4  # relative: "23.976" and 24000/1001 are one clock
NTSC = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "47.952": Fraction(48000, 1001),
        "59.94": Fraction(60000, 1001), "119.88": Fraction(120000, 1001)}


class Unusable(ValueError):
    """This clip cannot be restored faithfully; the message says why, for the person who picked it."""


def parse_rate(label: str | float) -> Fraction:
    """A rate as Resolve prints it ("23.976", "25", "29.97 DF") as an exact fraction."""
    text = str(label).split()[0] if str(label).strip() else ""
    if not text:
        raise Unusable("the clip has no frame rate")
    if text in NTSC:
        return NTSC[text]
    rate = Fraction(text).limit_denominator(1001)
    if rate <= 0:
        raise Unusable(f"frame rate {label!r} is not positive")
    return rate


def same_clock(a: Fraction, b: Fraction) -> bool:
    return abs(a - b) <= SAME_RATE * max(a, b)


@dataclass(frozen=True)
class ClipMedia:
    """A media pool clip's file, as the adapter read it."""

    name: str
    path: str  # a movie, or an image-sequence pattern with # padding
    kind: str  # "movie" or "sequence"
    first_number: int  # media number of index 0: a sequence's first file number, 0 for a movie
    frames: int
    rate: Fraction
    start_tc: str

    @property
    def stem(self) -> str:
        """The file name without frame field and extension: what restored files are named after."""
        name = os.path.basename(self.path)
        if self.kind == "sequence":
            return name[: name.index("#")].rstrip("._- ") or "sequence"
        return os.path.splitext(name)[0] or "clip"

    @property
    def base(self) -> int:
        """Source frame of media index 0 (source frames are timecode-absolute)."""
        return parse_timecode(self.start_tc, self.rate)


@dataclass(frozen=True)
class ItemFacts:
    """A timeline item, as the adapter read it. Record frames are absolute timeline frames, end exclusive."""

    item_id: str
    name: str
    track: int
    record_start: int
    record_end: int
    source_start: int
    source_end: int  # as reported: exclusive when the rates match, inclusive when they differ
    media: ClipMedia


@dataclass(frozen=True)
class Span:
    """Media frames to restore: `count` from media index `offset`, with the handles the media allows."""

    offset: int
    count: int
    before: int
    after: int


def clamp_handles(media: ClipMedia, offset: int, count: int, handles: int) -> Span:
    if offset < 0 or count <= 0 or offset + count > media.frames:
        raise Unusable(f"uses frames {offset}..{offset + count - 1} of media with {media.frames} frames")
    return Span(offset, count, min(handles, offset), min(handles, media.frames - offset - count))


def item_span(item: ItemFacts, timeline_rate: Fraction, handles: int) -> Span:
    """The media frames a timeline item shows, with handles clamped to the media (hosts.md traps applied)."""
    media = item.media
    same = same_clock(media.rate, timeline_rate)
    end = item.source_end if same else item.source_end + 1  # inclusive when the rates differ
    if item.source_start >= end:
        raise Unusable("is reversed (plays backwards); restore its media without the reverse")
    count = end - item.source_start
    duration = item.record_end - item.record_start
    expected = duration if same else round(duration * media.rate / timeline_rate)
    if abs(count - expected) > (0 if same else 1):
        raise Unusable("is retimed (speed change); restore its media without the speed change")
    return clamp_handles(media, item.source_start - media.base, count, handles)


def otio_clip(media: ClipMedia, span: Span, timeline_rate: Fraction) -> str:
    """JSON of an OTIO Clip.2 shaped like Resolve's own export (bare paths, timecode-absolute ranges).

    The source range is written at the timeline's rate, as Resolve does: when the clip's rate
    differs its start is the clip's start timecode read on the timeline clock plus the offset.
    """
    if same_clock(media.rate, timeline_rate):
        start = media.base + span.offset
    else:
        start = parse_timecode(media.start_tc, timeline_rate) + span.offset
    available = time_range(media.base, media.frames, media.rate)
    if media.kind == "sequence":
        reference = sequence_reference(media.name, media.path, media.first_number, media.rate, available)
    else:
        reference = movie_reference(media.name, media.path, available)
    source = time_range(start, span.count, timeline_rate)
    return clip_json(media.name, reference, source, metadata={"Resolve_OTIO": {}})


@dataclass(frozen=True)
class Restored:
    """Restored media as the daemon reported it: a movie path or a sequence, and its media numbers."""

    path: str  # the movie, or the sequence pattern with # padding
    kind: str
    first_number: int
    last_number: int


def restored_media(completed_clip_json: str, first_number: int, last_number: int) -> Restored:
    """Where the daemon put the restored media, read from the OTIO clip of its Completed event."""
    path, kind = media_of(completed_clip_json)
    return Restored(path, kind, first_number, last_number)


def printf_pattern(pattern: str) -> str:
    """`name.####.exr` -> `name.%04d.exr`, the form `ImportMedia` takes for sequences."""
    directory, prefix, padding, suffix = split_pattern(pattern)
    return os.path.join(directory, f"{prefix}%0{padding}d{suffix}")


def restored_frames(media: ClipMedia, span: Span, restored: Restored) -> tuple[int, int]:
    """(start, end exclusive) media indices in the restored media that show what the original showed."""
    start = media.first_number + span.offset - restored.first_number
    if start < 0 or start + span.count > restored.last_number - restored.first_number + 1:
        raise ValueError(f"the restored media ({restored.first_number}-{restored.last_number}) lacks the clip's frames")
    return start, start + span.count


def first_free_track(tracks: list[list[tuple[int, int]]], above: int, start: int, end: int) -> int:
    """The lowest track above `above` with nothing in [start, end); len(tracks) + 1 means a new track."""
    for index in range(above + 1, len(tracks) + 1):
        if not any(s < end and start < e for s, e in tracks[index - 1]):
            return index
    return len(tracks) + 1
