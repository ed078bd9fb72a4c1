"""Done-when: a restored sub-range is exactly those source frames, numbered and timecoded as the source.

Every input frame shows its own index as bars (see media_patterns), so the test reads back which
source frame each output frame really is, through the preview engine at scale 1 and 2.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from media_patterns import movie_frames, movie_timecode, read_index, write_exr_sequence, write_movie

from vividvr_client.timecode import FrameRange
from vividvr_engine.media.images import read_image
from vividvr_engine.preview import PreviewEngine
from vividvr_engine.restore_job import RestoreJobSpec, probe, restore_clip
from vividvr_engine.settings import RestoreSettings

WINDOW = 9  # small windows, so a short clip still spans several segments


def preview(scale: float) -> tuple[PreviewEngine, RestoreSettings]:
    return PreviewEngine(), RestoreSettings(upscale=scale, num_temporal_process_frames=WINDOW)


@pytest.fixture(scope="module")
def prores_2398(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "plate.mov"
    return write_movie(path, "prores_ks", Fraction(24000, 1001), 40, pix_fmt="yuv422p10le",
                       timecode="01:00:00:00", options={"profile": "3"})


@pytest.fixture(scope="module")
def h264_25(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "plate.mp4"
    # short GOPs with B-frames, so a sub-range starts mid-GOP and frames are reordered
    return write_movie(path, "libx264", Fraction(25), 60, options={"g": "12", "bf": "2", "crf": "18"})


@pytest.fixture(scope="module")
def exr_1001(tmp_path_factory):
    return write_exr_sequence(tmp_path_factory.mktemp("src"), 1001, 30)


def test_probe_reports_rational_rate_frame_count_and_start_timecode(prores_2398):
    info = probe(str(prores_2398))
    assert (info.kind, info.fps, info.first_frame, info.last_frame) == ("movie", Fraction(24000, 1001), 0, 39)
    assert info.start_timecode == "01:00:00:00"


@pytest.mark.parametrize("scale", [1, 2])
def test_prores_2398_sub_range_to_movie_keeps_frames_and_timecode(prores_2398, tmp_path, scale):
    out = tmp_path / "out.mov"
    result = restore_clip(RestoreJobSpec(str(prores_2398), str(out), FrameRange(7, 30)), *preview(scale))
    frames = movie_frames(out)
    assert [read_index(f) for f in frames] == list(range(7, 31))
    assert frames[0].shape == (48 * scale, 64 * scale, 3)
    assert movie_timecode(out) == result.start_timecode == "01:00:00:07"
    assert probe(str(out)).fps == Fraction(24000, 1001)


@pytest.mark.parametrize("scale", [1, 2])
def test_h264_25_sub_range_to_sequence_is_numbered_by_source_frame(h264_25, tmp_path, scale):
    pattern = tmp_path / "out" / "shot.%04d.exr"
    result = restore_clip(RestoreJobSpec(str(h264_25), str(pattern), FrameRange(13, 41)), *preview(scale))
    assert [p.rsplit(".", 2)[1] for p in result.outputs] == [f"{n:04d}" for n in range(13, 42)]
    assert [read_index(read_image(p)) for p in result.outputs] == list(range(13, 42))
    assert read_image(result.outputs[0]).shape == (48 * scale, 64 * scale, 3)


@pytest.mark.parametrize("scale", [1, 2])
def test_h264_25_sub_range_to_h264_keeps_count_and_order(h264_25, tmp_path, scale):
    out = tmp_path / "out.mp4"
    restore_clip(RestoreJobSpec(str(h264_25), str(out), FrameRange(25, 49), "h264"), *preview(scale))
    assert [read_index(f) for f in movie_frames(out)] == list(range(25, 50))


@pytest.mark.parametrize("scale", [1, 2])
def test_exr_sequence_from_1001_sub_range_keeps_frame_numbers(exr_1001, tmp_path, scale):
    pattern = tmp_path / "out.####.exr"
    result = restore_clip(RestoreJobSpec(str(exr_1001), str(pattern), FrameRange(1010, 1025)), *preview(scale))
    assert [int(p.rsplit(".", 2)[1]) for p in result.outputs] == list(range(1010, 1026))
    assert [read_index(read_image(p)) for p in result.outputs] == list(range(9, 25))  # bars count from 1001


def test_exr_sequence_to_prores_movie_keeps_count_and_order(exr_1001, tmp_path):
    out = tmp_path / "out.mov"
    result = restore_clip(RestoreJobSpec(str(exr_1001), str(out), FrameRange(1003, 1020)), *preview(2))
    assert [read_index(f) for f in movie_frames(out)] == list(range(2, 20))
    assert result.frames == FrameRange(1003, 1020, Fraction(24))


def test_whole_clip_is_the_default_range(prores_2398, tmp_path):
    out = tmp_path / "all.mov"
    result = restore_clip(RestoreJobSpec(str(prores_2398), str(out), None), *preview(1))
    assert [read_index(f) for f in movie_frames(out)] == list(range(40))
    assert result.start_timecode == "01:00:00:00"


def test_audio_is_copied_for_the_restored_span(tmp_path):
    import av

    source = write_movie(tmp_path / "talk.mov", "prores_ks", Fraction(25), 50, pix_fmt="yuv422p10le", audio=True)
    out = tmp_path / "out.mov"
    restore_clip(RestoreJobSpec(str(source), str(out), FrameRange(10, 34)), *preview(1))
    with av.open(str(out)) as container:
        assert container.streams.audio, "audio stream was not copied"
        audio = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(audio))
    assert abs(samples / 48000 - 25 / 25) < 0.05  # one second of sound for 25 frames at 25 fps


@pytest.mark.parametrize(
    ("name", "fmt", "ten_bit"),
    [("o.mov", "prores4444", False), ("o.mov", "dnxhr", False), ("o.mp4", "h265", True), ("o.mkv", "h264", True)],
)
def test_every_movie_format_keeps_frames_drop_frame_timecode_and_audio(tmp_path_factory, tmp_path, name, fmt, ten_bit):
    source = tmp_path_factory.getbasetemp() / "ntsc.mov"
    if not source.exists():  # DNxHR needs at least 256x120
        write_movie(source, "prores_ks", Fraction(30000, 1001), 20, size=(256, 144), pix_fmt="yuv422p10le",
                    timecode="01:00:00;00", audio=True)
    out = tmp_path / name
    spec = RestoreJobSpec(str(source), str(out), FrameRange(3, 15), fmt, ten_bit=ten_bit)
    restore_clip(spec, *preview(1))
    assert [read_index(f) for f in movie_frames(out)] == list(range(3, 16))
    info = probe(str(out))
    assert (info.start_timecode, info.fps, info.has_audio) == ("01:00:00;03", Fraction(30000, 1001), True)
