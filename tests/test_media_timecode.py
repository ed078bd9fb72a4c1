"""SMPTE timecode and frame-range arithmetic."""

from __future__ import annotations

from fractions import Fraction

import pytest

from vividvr_client.timecode import (
    FrameRange,
    format_timecode,
    offset_timecode,
    parse_timecode,
    range_from_timecodes,
)

NTSC = Fraction(30000, 1001)
FILM = Fraction(24000, 1001)


def test_non_drop_labels_count_nominal_frames_at_23976():
    assert parse_timecode("01:00:00:00", FILM) == 24 * 3600
    assert format_timecode(24 * 3600 + 23, FILM) == "01:00:00:23"


def test_drop_frame_skips_two_labels_each_minute_except_tenths():
    assert format_timecode(1799, NTSC, True) == "00:00:59;29"
    assert format_timecode(1800, NTSC, True) == "00:01:00;02"
    assert format_timecode(17982, NTSC, True) == "00:10:00;00"
    assert parse_timecode("01:00:00;00", NTSC) == 107892


def test_drop_frame_round_trips_every_frame_of_the_first_twenty_minutes_and_the_day_wrap():
    for rate in (NTSC, Fraction(60000, 1001)):
        per_minute = round(rate) * 60
        for frame in [*range(20 * per_minute), 2589407 * round(rate) // 30]:
            label = format_timecode(frame, rate, True)
            assert parse_timecode(label, rate) == frame, label


def test_labels_a_drop_frame_clock_never_shows_are_refused():
    with pytest.raises(ValueError, match="does not exist"):
        parse_timecode("00:01:00;01", NTSC)
    assert parse_timecode("00:10:00;01", NTSC) == 17983


@pytest.mark.parametrize("label", ["1:00:00", "01:00:00:24", "01:60:00:00", "00:00:00;00x"])
def test_malformed_or_out_of_range_timecode_is_refused(label):
    with pytest.raises(ValueError):
        parse_timecode(label, Fraction(24))


def test_drop_frame_at_a_rate_without_it_is_refused():
    with pytest.raises(ValueError, match="drop-frame"):
        parse_timecode("01:00:00;00", FILM)


def test_offset_keeps_drop_frame_style_and_wraps_at_midnight():
    assert offset_timecode("00:00:59;29", 1, NTSC) == "00:01:00;02"
    assert offset_timecode("23:59:59:24", 1, Fraction(25)) == "00:00:00:00"


def test_frame_range_parse_count_and_clock():
    r = FrameRange.parse("1001-1100")
    assert (r.first, r.last, r.count, str(r)) == (1001, 1100, 100, "1001-1100")
    assert FrameRange.parse("7").count == 1
    clocked = FrameRange(0, 99, FILM, "01:00:00:00").sub(24, 48)
    assert clocked.timecode == "01:00:01:00" and clocked.timecode_of(48) == "01:00:02:00"
    for bad in ("10-5", "-3-4", "a-b"):
        with pytest.raises(ValueError):
            FrameRange.parse(bad)


def test_timecode_range_maps_onto_source_frame_numbers():
    r = range_from_timecodes("01:00:00:10", "01:00:00:20", FILM, "01:00:00:00", 0)
    assert (r.first, r.last, r.timecode) == (10, 20, "01:00:00:10")
    seq = range_from_timecodes("00:00:41:16", "00:00:41:17", Fraction(24), "00:00:41:15", 1001)
    assert (seq.first, seq.last) == (1002, 1003)
