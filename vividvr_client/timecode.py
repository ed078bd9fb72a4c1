"""Frame ranges and SMPTE timecode: the one place that turns frame numbers into labels and back.

Pure arithmetic only. A timecode labels a frame on a clock that ticks at the *nominal* rate
(24 for 23.976, 30 for 29.97, 60 for 59.94). Drop-frame timecode (written with ``;`` before the
frames, e.g. ``01:00:00;00``) exists only for the 29.97 and 59.94 families: it skips the labels
``:00`` and ``:01`` (``:00``..``:03`` at 59.94) at the start of every minute except each tenth
minute, so the label tracks wall-clock time. 23.976 is always non-drop: a label per frame at
nominal 24.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_TC = re.compile(r"^(\d{1,2})[:.](\d{2})[:.](\d{2})([:;.,])(\d{2,3})$")
DAY_HOURS = 24


def nominal_rate(rate: Fraction) -> int:
    """Frames per timecode second: the rate rounded to the nearest integer (23.976 -> 24)."""
    nominal = round(rate)
    if nominal < 1:
        raise ValueError(f"frame rate {rate} is too low for timecode")
    return nominal


def drop_frames_per_minute(rate: Fraction) -> int:
    """Labels a drop-frame clock skips per minute: 2 at 29.97, 4 at 59.94, else drop-frame is impossible."""
    nominal = nominal_rate(rate)
    if nominal % 30 or rate == nominal:
        return 0
    return 2 * nominal // 30


def is_drop_frame(timecode: str) -> bool:
    """Drop-frame timecodes separate the frames with ``;`` (or ``,`` / ``.`` in some tools)."""
    match = _TC.match(timecode.strip())
    return bool(match) and match.group(4) in ";,"


def parse_timecode(timecode: str, rate: Fraction) -> int:
    """Frames from 00:00:00:00 to the frame labelled `timecode` at `rate`.

    Raises ValueError for a malformed label, a field out of range, or a label a drop-frame
    clock never shows.
    """
    match = _TC.match(timecode.strip())
    if not match:
        raise ValueError(f"timecode {timecode!r} is not HH:MM:SS:FF")
    hours, minutes, seconds, sep, frames = match.groups()
    h, m, s, f = int(hours), int(minutes), int(seconds), int(frames)
    nominal = nominal_rate(rate)
    if m > 59 or s > 59 or f >= nominal or h >= DAY_HOURS:
        raise ValueError(f"timecode {timecode!r} has a field out of range for {float(rate):.3f} fps")
    drop = sep in ";," and drop_frames_per_minute(rate)
    if sep in ";," and not drop:
        raise ValueError(f"timecode {timecode!r} is drop-frame, which {float(rate):.3f} fps does not have")
    count = ((h * 60 + m) * 60 + s) * nominal + f
    if drop:
        if s == 0 and f < drop and m % 10:
            raise ValueError(f"timecode {timecode!r} does not exist in drop-frame counting")
        total_minutes = h * 60 + m
        count -= drop * (total_minutes - total_minutes // 10)
    return count


def format_timecode(frame: int, rate: Fraction, drop_frame: bool = False) -> str:
    """The label of frame `frame` (counted from 00:00:00:00), wrapping at 24 hours."""
    nominal = nominal_rate(rate)
    drop = drop_frames_per_minute(rate) if drop_frame else 0
    if drop_frame and not drop:
        raise ValueError(f"{float(rate):.3f} fps has no drop-frame timecode")
    per_day = nominal * 3600 * DAY_HOURS
    if drop:
        per_day -= drop * (DAY_HOURS * 60 - DAY_HOURS * 6)
    frame %= per_day
    if drop:
        per_ten_minutes = nominal * 600 - drop * 9
        per_minute = nominal * 60 - drop
        tens, rest = divmod(frame, per_ten_minutes)
        frame += drop * 9 * tens
        if rest > drop:
            frame += drop * ((rest - drop) // per_minute)
    f = frame % nominal
    s = frame // nominal % 60
    m = frame // (nominal * 60) % 60
    h = frame // (nominal * 3600)
    return f"{h:02d}:{m:02d}:{s:02d}{';' if drop else ':'}{f:02d}"


def offset_timecode(timecode: str, frames: int, rate: Fraction) -> str:
    """`timecode` moved on by `frames`, keeping its drop-frame style."""
    return format_timecode(parse_timecode(timecode, rate) + frames, rate, is_drop_frame(timecode))


@dataclass(frozen=True)
class FrameRange:
    """Inclusive source frame numbers `first`..`last`, optionally on a clock.

    Frame numbers are the source's own: the file numbers of an image sequence, or the 0-based
    frame index within a movie file. `rate` and `timecode` (the label of frame `first`) are
    present when known, so a range can be shown and converted as timecode.
    """

    first: int
    last: int
    rate: Fraction | None = None
    timecode: str | None = None

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"frame range {self.first}-{self.last} ends before it starts")

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, frame: object) -> bool:
        return isinstance(frame, int) and self.first <= frame <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    def timecode_of(self, frame: int) -> str | None:
        """The timecode label of source frame `frame`, when this range carries a clock."""
        if self.timecode is None or self.rate is None:
            return None
        return offset_timecode(self.timecode, frame - self.first, self.rate)

    def sub(self, first: int, last: int) -> FrameRange:
        """The part `first`..`last` of this range, keeping its clock."""
        if first not in self or last not in self:
            raise ValueError(f"frames {first}-{last} are outside {self}")
        return FrameRange(first, last, self.rate, self.timecode_of(first))

    @classmethod
    def parse(cls, text: str) -> FrameRange:
        """``FIRST-LAST`` (inclusive) or a single frame ``N``; negative numbers are not frames."""
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
        if not match:
            raise ValueError(f"frame range {text!r} is not FIRST-LAST (e.g. 1001-1100)")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        return cls(first, last)


def range_from_timecodes(
    tc_in: str, tc_out: str, rate: Fraction, start_timecode: str, first_frame: int
) -> FrameRange:
    """Source frames labelled `tc_in`..`tc_out` (inclusive), where frame `first_frame` is `start_timecode`."""
    origin = parse_timecode(start_timecode, rate)
    first = first_frame + parse_timecode(tc_in, rate) - origin
    last = first_frame + parse_timecode(tc_out, rate) - origin
    return FrameRange(first, last, rate, tc_in)
