"""OTIO clip <-> media frames: Resolve's timeline-rate ranges, Nuke's media-rate ones, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest
from conftest import SHARED, require_shared

from vividvr_daemon.otio_clip import (
    ClipSource,
    OtioError,
    frame_span,
    media_clip,
    media_frames,
    parse_clip,
    restored_clip_json,
    same_clock,
    source_offset,
    source_start_for,
    url_to_path,
)

EDITORIAL = SHARED / "assets" / "editorial"


def editorial(name: str) -> str:
    return require_shared(EDITORIAL / name).read_text()


def clip_json(
    source: tuple[float, float, float],
    available: tuple[float, float, float] | None,
    ref: otio.core.SerializableObject | None = None,
    effects: list | None = None,
) -> str:
    """A Clip.2 like Resolve's: (start, duration, rate) ranges, an ExternalReference by default."""

    def time_range(start: float, duration: float, rate: float) -> otio.opentime.TimeRange:
        return otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(duration, rate)
        )

    if ref is None:
        ref = otio.schema.ExternalReference(target_url="/media/plate.mov")
    if available is not None:
        ref.available_range = time_range(*available)
    clip = otio.schema.Clip(name="plate", media_reference=ref, source_range=time_range(*source))
    for effect in effects or ():
        clip.effects.append(effect)
    return otio.adapters.write_to_string(clip, "otio_json")


@pytest.mark.parametrize(
    ("source_start", "source_rate", "available_start", "media_rate", "offset"),
    [
        (86432, 24, 86400, 24, 32),  # same clock: plain subtraction
        (10, 24, 0, 24, 10),  # media without timecode
        (90032, 25, 86400, 24, 32),  # Resolve: 24 fps media at 01:00:00:00 in a 25 fps timeline
        (108032, 30, 86400, 24, 32),  # ... in a 30 fps timeline
        (91046.625, 25, 87399, 24, 6.625),  # media starting at 01:00:41:15, fractional source start
        (1937905.9905694576, 23.976024627685547, 1937896, 23.976, 10),  # float noise on one clock snaps
        (86400, 24, 86400, 24, 0),
    ],
)
def test_source_offset_counts_media_frames_from_the_media_start(
    source_start: float, source_rate: float, available_start: float, media_rate: float, offset: float
) -> None:
    assert source_offset(source_start, source_rate, available_start, media_rate) == pytest.approx(offset)


def test_different_rates_need_a_whole_frame_media_start() -> None:
    with pytest.raises(OtioError, match="between frames"):
        source_offset(90032, 25, 86400.5, 24)


@pytest.mark.parametrize(
    ("offset", "duration", "span"),
    [
        (32, 44, (32, 44)),
        (6.625, 74, (6, 75)),  # a fractional start touches one more frame
        (9.995, 82, (10, 82)),  # within SNAP of a whole frame
        (0, 1, (0, 1)),
        (0.5, 0.25, (0, 1)),
    ],
)
def test_frame_span_covers_every_frame_the_range_touches(offset: float, duration: float, span: tuple) -> None:
    assert frame_span(offset, duration) == span


@pytest.mark.parametrize("duration", [0, -3])
def test_a_range_without_frames_is_refused(duration: float) -> None:
    with pytest.raises(OtioError, match="no frames"):
        frame_span(0, duration)


def test_same_clock_treats_ntsc_spellings_as_one_rate() -> None:
    assert same_clock(23.976, 24000 / 1001) and same_clock(24.0, 24.0)
    assert not same_clock(24.0, 25.0) and not same_clock(29.97, 30.0)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/mnt/plates/a.mov", "/mnt/plates/a.mov"),
        ("file:///mnt/plates/a%20b.mov", "/mnt/plates/a b.mov"),
        ("file:///C:/plates/a.mov", "C:/plates/a.mov"),
        ("C:\\plates\\a.mov", "C:\\plates\\a.mov"),
    ],
)
def test_urls_and_bare_paths_become_paths(url: str, path: str) -> None:
    assert url_to_path(url) == path


def test_resolve_export_with_a_timeline_rate_source_range() -> None:
    clip = parse_clip(editorial("ayon__qt_embedded_tc.json"))
    assert clip.media_path.endswith("qt_embedded_tc.mov") and clip.sequence_start is None
    assert frame_span(offset_of(clip), clip.source_duration) == (32, 44)  # the sourceIn/sourceOut AYON recorded


def test_image_sequence_reference_becomes_a_hash_pattern_with_its_first_file_number() -> None:
    clip = parse_clip(editorial("ayon__img_seq_embedded_tc.json"))
    assert clip.media_path.endswith("output.####.exr") and clip.sequence_start == 1000
    assert frame_span(offset_of(clip), clip.source_duration)[0] == 6  # AYON's sourceIn


def test_retimed_clips_are_refused() -> None:
    with pytest.raises(OtioError, match="retimed"):
        parse_clip(editorial("ayon__img_seq_2x_speed_resolve.json"))
    with pytest.raises(OtioError, match="retimed"):
        parse_clip(clip_json((0, 10, 24), (0, 100, 24), effects=[otio.schema.LinearTimeWarp(time_scalar=2.0)]))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "malformed"),
        ('{"OTIO_SCHEMA": "Clip.2", "source_range": 5}', "malformed"),
        ('{"OTIO_SCHEMA": "Track.1", "name": "t", "children": []}', "malformed"),
        ('{"OTIO_SCHEMA": "Gap.1", "name": "g"}', "expected an OTIO Clip"),
        ("[]", "expected an OTIO Clip"),
    ],
)
def test_malformed_clips_are_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(OtioError, match=problem):
        parse_clip(text)


def test_a_clip_without_a_media_file_is_refused() -> None:
    with pytest.raises(OtioError, match="no media file"):
        parse_clip(clip_json((0, 10, 24), (0, 100, 24), ref=otio.schema.MissingReference()))
    with pytest.raises(OtioError, match="without a target_url"):
        parse_clip(clip_json((0, 10, 24), (0, 100, 24), ref=otio.schema.ExternalReference(target_url="")))


def test_a_clip_without_a_source_range_uses_the_whole_media() -> None:
    ref = otio.schema.ExternalReference(
        target_url="/m/a.mov",
        available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(100, 24), otio.opentime.RationalTime(50, 24)
        ),
    )
    clip = parse_clip(otio.adapters.write_to_string(otio.schema.Clip(name="a", media_reference=ref), "otio_json"))
    assert (clip.source_start, clip.source_duration) == (100, 50)


@pytest.mark.parametrize(
    ("source", "available", "output"),
    [
        ((90032, 44, 25), (86400, 100, 24), "/out/plate_restored.mov"),  # Resolve, timeline at 25
        ((86442, 20, 24), (86400, 100, 24), "/out/plate_restored.####.exr"),  # same clock, sequence out
    ],
)
def test_the_restored_clip_selects_the_same_frames_in_the_restored_media(
    source: tuple, available: tuple, output: str
) -> None:
    original = parse_clip(clip_json(source, available))
    first, count = frame_span(offset_of(original), original.source_duration)
    handles = 3
    restored_text = restored_clip_json(
        original,
        available_start=original.available_start,
        media_rate=original.media_rate,
        base_frame=0,
        first_frame=first - handles,
        last_frame=first + count - 1 + handles,
        output=output,
        metadata={"job": "abc"},
    )
    restored = parse_clip(restored_text)
    assert frame_span(offset_of(restored), restored.source_duration) == (handles, count)
    assert restored.source_range.duration == original.source_range.duration
    if same_clock(original.source_rate, original.media_rate):
        assert restored.source_range == original.source_range
    first_label = otio.opentime.to_timecode(otio.opentime.RationalTime(original.available_start + first, 24), 24)
    restored_label = otio.opentime.to_timecode(
        otio.opentime.RationalTime(restored.available_start + handles, restored.media_rate), 24
    )
    assert restored_label == first_label  # the restored media carries the source timecode
    if restored.sequence_start is not None:  # a sequence keeps the source frame numbers
        assert restored.sequence_start == first - handles
    assert json.loads(restored_text)["metadata"]["vividvr"] == {"job": "abc"}


def test_source_start_for_inverts_source_offset() -> None:
    for args in ((90032, 25, 86400, 24), (86442, 24, 86400, 24), (108032, 30, 86400, 24)):
        offset = source_offset(*args)
        assert source_start_for(offset, args[1], args[2], args[3]) == pytest.approx(args[0])


@pytest.mark.parametrize(
    ("source", "first_number", "frames"),
    [
        ((86410, 24, 5, 86400, 24), 0, (10, 14)),  # one clock: a movie from frame 0
        ((86410, 24, 5, 86400, 24), 1001, (1011, 1015)),  # a sequence numbered from 1001
        ((90032, 25, 10, 86400, 24), 0, (32, 41)),  # Resolve: timeline 25 fps over 24 fps media
        ((10.5, 24, 2, 0, 24), 0, (10, 12)),  # a fractional start touches three frames
    ],
)
def test_media_frames_numbers_the_frames_a_source_range_selects(source, first_number, frames) -> None:
    selected = media_frames(*source, first_number)
    assert (selected.first, selected.last) == frames


def offset_of(clip: ClipSource) -> float:
    return source_offset(clip.source_start, clip.source_rate, clip.available_start, clip.media_rate)


def test_a_bare_media_range_becomes_a_clip_on_the_media_clock() -> None:
    clip = media_clip("plate", "/m/plate.mov", available_start=86400, media_rate=24, offset=10, count=5)
    assert (clip.source_start, clip.source_duration, clip.source_rate) == (86410, 5, 24)
    assert frame_span(source_offset(clip.source_start, 24, 86400, 24), 5) == (10, 5)


def test_shared_editorial_clips_all_parse_or_are_refused_clearly() -> None:
    for path in sorted(Path(require_shared(EDITORIAL)).glob("ayon__*.json")):
        text = path.read_text()
        try:
            parse_clip(text)
        except OtioError as exc:
            assert "retimed" in str(exc) or "Clip" in str(exc), path.name


def test_clip_json_built_without_otio_is_read_by_opentimelineio():
    from vividvr_client import otio_json

    available = otio_json.time_range(86400, 100, 24)
    reference = otio_json.sequence_reference("plate", "/shots/plate.####.exr", 1001, 24, available)
    text = otio_json.clip_json("plate", reference, otio_json.time_range(86410, 20, 24))
    clip = otio.adapters.read_from_string(text)
    assert clip.source_range.start_time.value == 86410 and clip.source_range.duration.value == 20
    assert (clip.media_reference.name_prefix, clip.media_reference.frame_zero_padding) == ("plate.", 4)
    assert otio_json.media_of(text) == ("/shots/plate.####.exr", "sequence")
    movie = otio_json.clip_json("a", otio_json.movie_reference("a", "/shots/a.mov", available), available)
    assert otio_json.media_of(movie) == ("/shots/a.mov", "movie")
