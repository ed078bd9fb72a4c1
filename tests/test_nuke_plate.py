"""A Read's knob values in media frames, and the internal Read that shows restored media at the same frames."""

from __future__ import annotations

import nuke_support  # noqa: F401  (puts the plugin on sys.path)
import pytest

from vividvr_client.timecode import FrameRange
from vividvr_nuke.plate import (
    MOVIE_FIRST_FRAME,
    PlateError,
    ReadKnobs,
    explicit_colorspace,
    name_template,
    plate_from_read,
    restore_frames,
    restored_read,
)


def knobs(file: str = "/m/plate.%04d.exr", first: int = 1001, last: int = 1100, mode: str = "expression",
          frame: str = "", colorspace: str = "default (linear)") -> ReadKnobs:
    return ReadKnobs(file, first, last, mode, frame, colorspace)


def comp_of(read: ReadKnobs, file_frame: int) -> int:
    """Nuke's mapping written out per mode, independently of plate.py."""
    if read.frame_mode == "offset":
        return file_frame + int(read.frame)
    if read.frame_mode == "start at":
        return file_frame - read.first + int(read.frame)
    read_at = lambda comp: eval(read.frame or "frame", {"frame": comp})  # noqa: E731  (file frame read at comp)
    return file_frame - (read_at(0) - 0)


@pytest.mark.parametrize(
    ("mode", "frame"),
    [("expression", ""), ("expression", "frame"), ("expression", "frame-24"), ("expression", "frame + 7"),
     ("offset", "0"), ("offset", "-1000"), ("offset", "250"), ("start at", "1"), ("start at", "86400")],
)
@pytest.mark.parametrize("file", ["/m/plate.%04d.exr", "/m/plate.####.dpx", "/m/plate.mov"])
def test_every_frame_mode_maps_media_frames_to_the_comp_frames_nuke_shows(file: str, mode: str, frame: str) -> None:
    read = knobs(file, 5, 80, mode, frame)
    plate = plate_from_read(read)
    movie = file.endswith(".mov")
    assert plate.is_movie is movie
    for file_frame in (5, 6, 42, 80):
        media = file_frame - MOVIE_FIRST_FRAME if movie else file_frame
        assert media + plate.comp_shift == comp_of(read, file_frame)
        assert media in plate.frames
    assert plate.frames.count == 76


def test_movie_frames_count_from_zero_for_the_daemon() -> None:
    assert plate_from_read(knobs("/m/a.mov", 1, 40)).frames == FrameRange(0, 39)


@pytest.mark.parametrize(
    ("read", "words"),
    [
        (knobs(file=""), "no file"),
        (knobs(file="[python path()]"), "expression"),
        (knobs(first=10, last=9), "before first frame"),
        (knobs(mode="expression", frame="frame*2"), "not a fixed shift"),
        (knobs(mode="offset", frame="ten"), "not a whole frame"),
        (knobs(mode="reverse"), "unknown frame mode"),
        (knobs(file="/m/a.mov", first=0, last=5), "before the media's first frame"),
    ],
)
def test_reads_that_cannot_be_restored_say_what_to_change(read: ReadKnobs, words: str) -> None:
    with pytest.raises(PlateError, match=words) as error:
        plate_from_read(read, "Read7")
    assert str(error.value).startswith("Read7: ")


def test_project_range_restores_its_overlap_with_the_read() -> None:
    plate = plate_from_read(knobs(mode="offset", frame="10"))  # comp 1011-1110
    assert restore_frames(plate, "input", FrameRange(1, 5)) == FrameRange(1001, 1100)
    assert restore_frames(plate, "project", FrameRange(1020, 1050)) == FrameRange(1010, 1040)
    assert restore_frames(plate, "project", FrameRange(900, 2000)) == FrameRange(1001, 1100)
    with pytest.raises(PlateError, match="does not overlap the input's frames 1011-1110"):
        restore_frames(plate, "project", FrameRange(1, 1010))


def test_colourspace_defaults_become_the_space_they_stood_for() -> None:
    assert explicit_colorspace("default (Gamma2.2)") == "Gamma2.2"
    assert explicit_colorspace("default (Output - Rec.709)") == "Output - Rec.709"
    assert explicit_colorspace("ACES - ACEScg") == "ACES - ACEScg"


@pytest.mark.parametrize("output", ["/o/plate_vividvr_j1.####.exr", "/o/plate_vividvr_j1.mov"])
def test_restored_read_shows_each_restored_frame_where_the_plate_showed_it(output: str) -> None:
    read = knobs("/m/plate.mov", 5, 30, "offset", "1000")
    plate = plate_from_read(read)
    restored = FrameRange(2, 31)  # media frames 4-29 with two handles each side
    setup = restored_read(output, restored, plate.comp_shift, "Gamma2.2")
    assert (setup.frame_mode, setup.colorspace) == ("offset", "Gamma2.2")
    assert setup.last - setup.first + 1 == restored.count
    for index, media in enumerate(range(restored.first, restored.last + 1)):
        file_frame = setup.first + index  # restored files hold restored frames in order
        assert file_frame + int(setup.frame) == media + plate.comp_shift
    if output.endswith(".exr"):
        assert (setup.first, setup.last) == (2, 31)  # sequences keep the source's numbers


def test_output_names_carry_the_job_and_the_format_extension() -> None:
    assert name_template("exr") == "{name}_vividvr_{job}.####.exr"
    assert name_template("prores") == "{name}_vividvr_{job}.mov"
    with pytest.raises(PlateError, match="unknown output format 'gif'"):
        name_template("gif")


def test_the_plate_becomes_an_otio_clip_the_daemon_maps_back_to_the_same_media_frames():
    import opentimelineio as otio

    from vividvr_daemon import otio_clip as daemon_otio
    from vividvr_nuke.plate import Plate, hash_pattern, otio_clip

    assert hash_pattern("/shots/plate.%04d.exr") == "/shots/plate.####.exr"
    assert hash_pattern("/shots/plate.%d.exr") == "/shots/plate.#.exr"
    movie = Plate("/shots/a.mov", True, FrameRange(10, 99), 1001, "rec709")
    clip = otio.adapters.read_from_string(otio_clip(movie, FrameRange(20, 29), 25.0))
    assert clip.media_reference.target_url == "/shots/a.mov"
    parsed = daemon_otio.parse_clip(otio_clip(movie, FrameRange(20, 29), 25.0))
    offset = daemon_otio.source_offset(parsed.source_start, parsed.source_rate, parsed.available_start, 25.0)
    assert daemon_otio.frame_span(offset, parsed.source_duration) == (20, 10)  # movie indices 20..29
    sequence = Plate("/shots/p.%04d.exr", False, FrameRange(1001, 1100), 0, "linear")
    parsed = daemon_otio.parse_clip(otio_clip(sequence, FrameRange(1009, 1092), 24.0))
    offset = daemon_otio.source_offset(parsed.source_start, parsed.source_rate, parsed.available_start, 24.0)
    assert parsed.sequence_start + daemon_otio.frame_span(offset, parsed.source_duration)[0] == 1009
    assert parsed.media_path == "/shots/p.####.exr"
