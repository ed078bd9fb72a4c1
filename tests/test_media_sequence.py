"""Image-sequence patterns, scanning and gap reports."""

from __future__ import annotations

import pytest

from vividvr_engine.errors import MediaError
from vividvr_engine.media.sequence import describe_frames, is_sequence_path, missing_frames, parse_pattern


@pytest.mark.parametrize("name", ["shot.%04d.exr", "shot.####.exr", "shot.1001.exr"])
def test_three_pattern_styles_mean_the_same_files(tmp_path, name):
    pattern = parse_pattern(str(tmp_path / name))
    assert (pattern.prefix, pattern.padding, pattern.suffix) == ("shot.", 4, ".exr")
    assert pattern.path(1001) == str(tmp_path / "shot.1001.exr")
    assert pattern.path(12345).endswith("shot.12345.exr")


def test_scan_finds_padded_and_wider_numbers_and_ignores_strangers(tmp_path):
    for name in ["a.0998.png", "a.0999.png", "a.1000.png", "a.12000.png", "a.01000.png", "b.1001.png", "a.10x.png"]:
        (tmp_path / name).write_bytes(b"")
    assert parse_pattern(str(tmp_path / "a.####.png")).scan() == [998, 999, 1000, 12000]


def test_gaps_are_listed_as_runs():
    frames = [1001, 1002, 1006, 1008]
    gaps = missing_frames(frames, 1001, 1008)
    assert gaps == [1003, 1004, 1005, 1007]
    assert describe_frames(gaps) == "1003-1005, 1007"


def test_movies_and_patterns_are_told_apart():
    assert is_sequence_path("plate.####.exr") and is_sequence_path("plate.%04d.dpx")
    assert is_sequence_path("plate.1001.tif")
    assert not is_sequence_path("plate.mov") and not is_sequence_path("clip2.mp4")


def test_two_frame_fields_are_refused():
    with pytest.raises(MediaError, match="more than one"):
        parse_pattern("a.##.##.exr")
