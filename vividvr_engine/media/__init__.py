"""Frame-accurate, colour-true streaming media I/O: movies via FFmpeg (PyAV), image sequences."""

from vividvr_client.timecode import (
    FrameRange,
    format_timecode,
    offset_timecode,
    parse_timecode,
    range_from_timecodes,
)

__all__ = ["FrameRange", "format_timecode", "offset_timecode", "parse_timecode", "range_from_timecodes"]
