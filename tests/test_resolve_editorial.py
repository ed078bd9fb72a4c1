"""Frame arithmetic of the Resolve plugin: traps from hosts.md, OTIO shaped like Resolve's export, placement."""

from __future__ import annotations

import json
from fractions import Fraction

import opentimelineio as otio
import pytest
from conftest import SHARED, require_shared

from vividvr_daemon.otio_clip import frame_span, parse_clip, source_offset
from vividvr_resolve.editorial import (
    ClipMedia,
    ItemFacts,
    Restored,
    Span,
    Unusable,
    clamp_handles,
    first_free_track,
    item_span,
    otio_clip,
    parse_rate,
    restored_frames,
    restored_media,
)
from vividvr_resolve.host import sequence_pattern

NTSC = Fraction(24000, 1001)
MOVIE = ClipMedia("plate.mov", "/media/plate.mov", "movie", 0, 100, NTSC, "01:00:00:00")
PAL = ClipMedia("pal.mov", "/media/pal.mov", "movie", 0, 100, Fraction(25), "01:00:00:00")
SEQUENCE = ClipMedia("shot.[1001-1100].exr", "/plates/shot.####.exr", "sequence", 1001, 100, Fraction(24),
                     "00:00:41:17")


def facts(media: ClipMedia, record: tuple[int, int], source: tuple[int, int]) -> ItemFacts:
    return ItemFacts("id", media.name, 1, record[0], record[1], source[0], source[1], media)


@pytest.mark.parametrize(("label", "rate"), [
    ("23.976", NTSC), ("24", Fraction(24)), ("29.97 DF", Fraction(30000, 1001)), ("25.000", Fraction(25)),
    ("59.94", Fraction(60000, 1001)),
])
def test_rates_as_resolve_prints_them_are_exact(label: str, rate: Fraction) -> None:
    assert parse_rate(label) == rate


def test_same_rate_source_end_is_exclusive_and_timecode_absolute() -> None:
    span = item_span(facts(MOVIE, (86448, 86468), (86410, 86430)), NTSC, handles=8)
    assert span == Span(offset=10, count=20, before=8, after=8)


def test_other_rate_source_end_is_inclusive() -> None:
    span = item_span(facts(PAL, (86400, 86425), (90008, 90033)), Fraction(24), handles=0)
    assert (span.offset, span.count) == (8, 26)


def test_handles_are_clamped_to_the_media() -> None:
    assert clamp_handles(MOVIE, 3, 90, 12) == Span(3, 90, 3, 7)
    with pytest.raises(Unusable, match="of media with 100 frames"):
        clamp_handles(MOVIE, 95, 10, 0)


def test_reversed_and_retimed_items_are_refused_with_the_reason() -> None:
    with pytest.raises(Unusable, match="reversed"):
        item_span(facts(MOVIE, (0, 20), (86430, 86410)), NTSC, 0)
    with pytest.raises(Unusable, match="retimed"):
        item_span(facts(MOVIE, (0, 10), (86410, 86430)), NTSC, 0)  # 20 source frames in 10 record frames


@pytest.mark.parametrize(("media", "rate", "offset"), [(MOVIE, NTSC, 10), (PAL, Fraction(24), 8),
                                                       (PAL, Fraction(30), 8), (SEQUENCE, Fraction(24), 5)])
def test_daemon_reads_our_clip_as_the_same_media_frames(media: ClipMedia, rate: Fraction, offset: int) -> None:
    clip = parse_clip(otio_clip(media, Span(offset, 15, 2, 2), rate))
    start = source_offset(clip.source_start, clip.source_rate, clip.available_start, clip.media_rate)
    assert frame_span(start, clip.source_duration) == (offset, 15)
    assert clip.media_path == media.path
    assert clip.sequence_start == (1001 if media.kind == "sequence" else None)


def test_our_clip_is_shaped_like_resolves_own_export() -> None:
    """Same schema, keys and layout as OTIO files Resolve wrote (ynput/ayon-core fixtures)."""
    editorial = require_shared(SHARED / "assets" / "editorial")
    for ours, theirs in ((otio_clip(PAL, Span(32, 44, 0, 0), Fraction(25)), "ayon__qt_embedded_tc.json"),
                         (otio_clip(SEQUENCE, Span(5, 15, 0, 0), Fraction(25)), "ayon__img_seq_embedded_tc.json")):
        mine, resolve = json.loads(ours), json.loads((editorial / theirs).read_text())
        assert set(mine) == set(resolve)
        mine_ref = mine["media_references"]["DEFAULT_MEDIA"]
        resolve_ref = resolve["media_references"]["DEFAULT_MEDIA"]
        assert set(mine_ref) == set(resolve_ref) and mine_ref["OTIO_SCHEMA"] == resolve_ref["OTIO_SCHEMA"]
        assert "Resolve_OTIO" in mine["metadata"]
        assert not json.dumps(mine_ref).count("file://")
        assert isinstance(otio.adapters.read_from_string(ours, "otio_json"), otio.schema.Clip)


def test_other_rate_clip_matches_resolves_numbers() -> None:
    """Resolve's export: 24 fps media at 01:00:00:00 in a 25 fps timeline, 32 frames in, starts at 90032@25."""
    ours = json.loads(otio_clip(ClipMedia("qt.mov", "/m/qt.mov", "movie", 0, 100, Fraction(24), "01:00:00:00"),
                                Span(32, 44, 0, 0), Fraction(25)))
    assert ours["source_range"]["start_time"] == {"OTIO_SCHEMA": "RationalTime.1", "rate": 25.0, "value": 90032.0}
    available = ours["media_references"]["DEFAULT_MEDIA"]["available_range"]["start_time"]
    assert (available["rate"], available["value"]) == (24.0, 86400.0)


def test_restored_media_and_the_frames_that_match_the_original() -> None:
    movie = restored_media(json.dumps({"media_references": {"DEFAULT_MEDIA": {
        "OTIO_SCHEMA": "ExternalReference.1", "target_url": "/out/plate_vividvr.mov"}},
        "active_media_reference_key": "DEFAULT_MEDIA"}), 6, 33)
    assert movie == Restored("/out/plate_vividvr.mov", "movie", 6, 33)
    assert restored_frames(MOVIE, Span(10, 20, 4, 4), movie) == (4, 24)
    sequence = restored_media(json.dumps({"media_references": {"DEFAULT_MEDIA": {
        "OTIO_SCHEMA": "ImageSequenceReference.1", "target_url_base": "/out", "name_prefix": "shot_r.",
        "name_suffix": ".exr", "frame_zero_padding": 4}}}), 1002, 1024)
    assert sequence == Restored("/out/shot_r.####.exr", "sequence", 1002, 1024)
    assert restored_frames(SEQUENCE, Span(5, 15, 4, 4), sequence) == (4, 19)
    with pytest.raises(ValueError, match="lacks the clip's frames"):
        restored_frames(SEQUENCE, Span(5, 30, 0, 0), sequence)


def test_first_free_track_above_skips_overlaps_and_may_need_a_new_track() -> None:
    tracks = [[(0, 100)], [(50, 60)], [(100, 200)], []]
    assert first_free_track(tracks, 1, 40, 80) == 3
    assert first_free_track(tracks, 1, 60, 100) == 2  # end-exclusive ranges touch without overlapping
    assert first_free_track([[(0, 100)], [(0, 100)]], 1, 0, 10) == 3


@pytest.mark.parametrize(("path", "expected"), [
    ("/plates/shot.[1001-1100].exr", ("/plates/shot.####.exr", 1001, 1100)),
    ("/plates/A001_[0000086-0000090].dpx", ("/plates/A001_#######.dpx", 86, 90)),
    ("/media/plate.mov", None),
])
def test_resolves_sequence_file_path_becomes_a_pattern(path: str, expected: tuple | None) -> None:
    assert sequence_pattern(path) == expected
