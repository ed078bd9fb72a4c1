"""OpenTimelineIO clip <-> media frame range: the one place the daemon does editorial arithmetic.

A clip from Resolve or Nuke names its media (an ExternalReference to a movie or an image-sequence
pattern, or an ImageSequenceReference) and two timecode-absolute ranges: `available_range` (the
whole media, at the media's rate) and `source_range` (the part used). Resolve writes
`source_range` at the *timeline* rate while its frame counts are media frames (media at 24 fps,
01:00:00:00, in a 25 fps timeline: available starts at 86400@24, a clip 32 frames in starts at
90032@25). So when the two rates differ the start is read as a timecode label on the timeline
clock, and when they agree (Nuke, OTIO's own tools) it is plain frame arithmetic.

Pure functions over parsed clips; the daemon supplies probe results and paths.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from vividvr_client.timecode import FrameRange, format_timecode, parse_timecode
from vividvr_engine.media.sequence import SequencePattern, is_sequence_path, parse_pattern

SNAP = 0.01  # frames: OTIO values this close to a whole frame are that frame (float rescaling noise)
SAME_RATE = 1e-4  # relative: 23.976 and 23.976024627685547 are the same clock
RETIME_EFFECTS = (otio.schema.LinearTimeWarp, otio.schema.FreezeFrame)


class OtioError(ValueError):
    """The clip JSON is malformed or asks for something the daemon cannot restore faithfully."""


@dataclass(frozen=True)
class ClipSource:
    """What a clip asks for, before the media is probed."""

    name: str
    media_path: str  # a movie, or an image-sequence pattern with # padding
    sequence_start: int | None  # first file number, when the reference says so
    media_rate: float | None  # the media's own rate (available_range, or the sequence's rate)
    available_start: float | None  # timecode-absolute frames at media_rate
    source_start: float
    source_duration: float
    source_rate: float
    source_range: otio.opentime.TimeRange


def _snap(value: float) -> float:
    nearest = round(value)
    return float(nearest) if abs(value - nearest) <= SNAP else value


def _rate(value: float) -> Fraction:
    return Fraction(value).limit_denominator(1001)


def same_clock(a: float, b: float) -> bool:
    return abs(a - b) <= SAME_RATE * max(a, b)


def source_offset(
    source_start: float, source_rate: float, available_start: float, media_rate: float
) -> float:
    """Media frames from the start of the media to `source_start`, possibly fractional.

    With equal rates both values count frames on one clock. With different rates (Resolve) the
    media's start is re-labelled as timecode on the timeline clock and the offset counted there.
    """
    if same_clock(source_rate, media_rate):
        return _snap(source_start) - _snap(available_start)
    start = _snap(available_start)
    if start != int(start):
        raise OtioError(f"available range starts between frames ({available_start}); cannot map its timecode")
    label = format_timecode(int(start), _rate(media_rate))
    return _snap(source_start) - parse_timecode(label, _rate(source_rate))


def source_start_for(offset: float, source_rate: float, available_start: float, media_rate: float) -> float:
    """The inverse of `source_offset`: the source-range start that selects `offset` frames in."""
    if same_clock(source_rate, media_rate):
        return _snap(available_start) + offset
    label = format_timecode(int(_snap(available_start)), _rate(media_rate))
    return parse_timecode(label, _rate(source_rate)) + offset


def frame_span(offset: float, duration: float) -> tuple[int, int]:
    """(first, count) of whole media frames touched by `offset` .. `offset + duration`."""
    if duration <= 0:
        raise OtioError(f"source range has no frames (duration {duration})")
    first = math.floor(_snap(offset))
    stop = math.ceil(_snap(offset + duration))
    return first, stop - first


def media_frames(
    source_start: float, source_rate: float, duration: float, available_start: float, media_rate: float,
    first_number: int,
) -> FrameRange:
    """The media frame numbers a source range selects; `first_number` numbers the media's first frame.

    The one mapping from an edit's source range to frames, for a request's clip and a reel's clips alike.
    """
    first, count = frame_span(source_offset(source_start, source_rate, available_start, media_rate), duration)
    return FrameRange(first_number + first, first_number + first + count - 1)


def url_to_path(url: str) -> str:
    """Resolve writes bare paths, other tools `file://` URLs; both become a local path."""
    if url.startswith("file:"):
        parsed = urlparse(url)
        path = unquote(parsed.path)
        if re.match(r"^/[A-Za-z]:", path):  # file:///C:/...
            path = path[1:]
        return path
    return url


def parse_clip(text: str) -> ClipSource:
    """Read an OTIO Clip's JSON; raise OtioError naming what is wrong."""
    try:
        clip = otio.core.deserialize_json_from_string(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise OtioError(f"malformed OTIO clip JSON: {exc}") from None
    if not isinstance(clip, otio.schema.Clip):
        raise OtioError(f"expected an OTIO Clip, got {type(clip).__name__}")
    if any(isinstance(effect, RETIME_EFFECTS) for effect in clip.effects):
        raise OtioError(f"clip {clip.name!r} is retimed; restore its media without the speed change")
    ref = clip.media_reference
    available = ref.available_range
    media_rate = available.start_time.rate if available is not None else None
    if isinstance(ref, otio.schema.ExternalReference):
        if not ref.target_url:
            raise OtioError(f"clip {clip.name!r} has an external reference without a target_url")
        media_path, sequence_start = url_to_path(ref.target_url), None
    elif isinstance(ref, otio.schema.ImageSequenceReference):
        pattern = SequencePattern(
            url_to_path(ref.target_url_base), ref.name_prefix, max(1, ref.frame_zero_padding), ref.name_suffix
        )
        media_path = pattern.display()
        sequence_start = ref.start_frame
        media_rate = media_rate or ref.rate
    else:
        raise OtioError(f"clip {clip.name!r} has no media file (reference {type(ref).__name__})")
    source_range = clip.source_range or available
    if source_range is None:
        raise OtioError(f"clip {clip.name!r} has neither a source_range nor an available_range")
    start, duration = source_range.start_time, source_range.duration
    if duration.rate != start.rate:
        duration = duration.rescaled_to(start.rate)
    return ClipSource(
        name=clip.name or os.path.basename(media_path),
        media_path=media_path,
        sequence_start=sequence_start,
        media_rate=media_rate,
        available_start=available.start_time.value if available is not None else None,
        source_start=start.value,
        source_duration=duration.value,
        source_rate=start.rate,
        source_range=source_range,
    )


def media_clip(
    name: str, path: str, *, available_start: float, media_rate: float, offset: int, count: int
) -> ClipSource:
    """The clip a bare media path with a frame range stands for, `offset` frames into the media."""
    start = otio.opentime.RationalTime(available_start + offset, media_rate)
    source_range = otio.opentime.TimeRange(start, otio.opentime.RationalTime(count, media_rate))
    return ClipSource(
        name=name,
        media_path=path,
        sequence_start=None,
        media_rate=media_rate,
        available_start=available_start,
        source_start=start.value,
        source_duration=count,
        source_rate=media_rate,
        source_range=source_range,
    )


def restored_clip_json(
    source: ClipSource,
    *,
    available_start: float,
    media_rate: float,
    base_frame: int,
    first_frame: int,
    last_frame: int,
    output: str,
    metadata: dict,
) -> str:
    """A clip over the restored media `first_frame..last_frame` selecting the same frames, same timecode.

    `available_start` is the timecode-absolute start of the source media (frame `base_frame`);
    the restored media starts `first_frame - base_frame` frames later on the same clock. On one
    clock the request's source range is kept as is; with Resolve's timeline-rate ranges the start
    is re-expressed against the restored media's start label, as Resolve would write it.
    """
    count = last_frame - first_frame + 1
    restored_start = _snap(available_start) + first_frame - base_frame
    available = otio.opentime.TimeRange(
        otio.opentime.RationalTime(restored_start, media_rate), otio.opentime.RationalTime(count, media_rate)
    )
    source_range = source.source_range
    if not same_clock(source.source_rate, media_rate):
        offset = source_offset(source.source_start, source.source_rate, available_start, media_rate)
        start = source_start_for(offset - (first_frame - base_frame), source.source_rate, restored_start, media_rate)
        source_range = otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, source.source_rate), source_range.duration
        )
    if is_sequence_path(output):
        pattern = parse_pattern(output)
        ref = otio.schema.ImageSequenceReference(
            target_url_base=pattern.directory,
            name_prefix=pattern.prefix,
            name_suffix=pattern.suffix,
            start_frame=first_frame,
            frame_step=1,
            rate=media_rate,
            frame_zero_padding=pattern.padding,
            available_range=available,
        )
    else:
        ref = otio.schema.ExternalReference(target_url=output, available_range=available)
    clip = otio.schema.Clip(
        name=f"{source.name} (restored)",
        media_reference=ref,
        source_range=source_range,
        metadata={"vividvr": metadata},
    )
    return otio.adapters.write_to_string(clip, "otio_json")
