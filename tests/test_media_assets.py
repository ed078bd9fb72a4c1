"""Real-world files from ../shared/assets: camera/editorial movies and image formats from other tools."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media_patterns import SHARED, movie_frames, movie_timecode

from vividvr_client.timecode import FrameRange
from vividvr_engine.errors import MediaError
from vividvr_engine.media.colour import Identity
from vividvr_engine.media.images import read_image
from vividvr_engine.media.source import MediaClip, open_media, resolve_range
from vividvr_engine.preview import PreviewEngine
from vividvr_engine.restore_job import RestoreJobSpec, probe, restore_clip
from vividvr_engine.settings import RestoreSettings

VIDEO = SHARED / "assets" / "video"
IMAGES = SHARED / "assets" / "images"


def asset(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs {path} (the shared assets beside the repo; CI always has it)")
    return path


def identity() -> tuple[PreviewEngine, RestoreSettings]:
    return PreviewEngine(), RestoreSettings(upscale=1, num_temporal_process_frames=9)


def test_editorial_movie_with_timecode_track_restores_the_right_frames(tmp_path):
    source = asset(VIDEO / "otio__frame_debugger_1h.mov")
    info = probe(str(source))
    assert (info.width, info.height, info.fps, info.last_frame + 1) == (1920, 1080, Fraction(24), 120)
    assert info.start_timecode == "01:00:00:00" and info.has_audio
    out = tmp_path / "out.mov"
    result = restore_clip(RestoreJobSpec(str(source), str(out), FrameRange(100, 103)), *identity())
    assert result.start_timecode == movie_timecode(out) == "01:00:04:04"
    with av.open(str(out)) as container:
        assert container.streams.audio
    restored = movie_frames(out)
    originals = movie_frames(source, 96, 108)  # source frames 96..107
    assert len(restored) == 4
    for k, frame in enumerate(restored):  # each output frame is closest to its own source frame
        errors = [np.abs(frame - original).mean() for original in originals]
        assert int(np.argmin(errors)) + 96 == 100 + k


def test_prores_camera_file_reads_colour_true_into_an_exr_sequence(tmp_path):
    source = asset(VIDEO / "formatcorpus__apple-prores-422.mov")
    result = restore_clip(RestoreJobSpec(str(source), str(tmp_path / "f.####.exr"), FrameRange(5, 9)), *identity())
    media = open_media(str(source))
    decoded = list(MediaClip(media, resolve_range(media.info, FrameRange(5, 9)), Identity()).frames())
    assert [Path(p).name for p in result.outputs] == [f"f.{n:04d}.exr" for n in range(5, 10)]
    for path, original in zip(result.outputs, decoded, strict=True):
        assert np.abs(read_image(path) - original).max() < 1e-3


@pytest.mark.parametrize("name", sorted(p.name for p in VIDEO.glob("*")) if VIDEO.exists() else [])
def test_every_shared_movie_probes_or_is_refused_with_a_reason(name):
    try:
        info = probe(str(VIDEO / name))
    except MediaError as exc:
        assert str(exc).startswith(str(VIDEO / name)) and "\n" not in str(exc)
        return
    assert info.last_frame >= 0 and info.width > 0 and info.fps > 0


def test_variable_rate_real_file_is_refused():
    with pytest.raises(MediaError, match="variable frame rate"):
        probe(str(asset(VIDEO / "moviepy__fire2.mp4")))


def test_nuke_10_bit_dpx_round_trips_code_values(tmp_path):
    shutil.copy(asset(IMAGES / "oiio__dpx_nuke_10bits_rgb.dpx"), tmp_path / "plate.1001.dpx")
    result = restore_clip(RestoreJobSpec(str(tmp_path / "plate.####.dpx"), str(tmp_path / "o.####.dpx"), None),
                          *identity())
    original, restored = read_image(str(tmp_path / "plate.1001.dpx")), read_image(result.outputs[0])
    assert original.shape == (512, 512, 3)
    assert np.array_equal(np.rint(original * 1023), np.rint(restored * 1023))


def test_exr_display_window_defines_the_frame_and_values_survive(tmp_path):
    shutil.copy(asset(IMAGES / "openexr__DisplayWindow_t08.exr"), tmp_path / "dw.0001.exr")
    shutil.copy(IMAGES / "openexr__ScanLines_Carrots.exr", tmp_path / "carrots.0001.exr")
    assert (probe(str(tmp_path / "dw.####.exr")).width, probe(str(tmp_path / "dw.####.exr")).height) == (501, 401)
    result = restore_clip(RestoreJobSpec(str(tmp_path / "carrots.####.exr"), str(tmp_path / "o.####.exr"), None),
                          *identity())
    original, restored = read_image(str(tmp_path / "carrots.0001.exr")), read_image(result.outputs[0])
    assert np.abs(original - restored).max() < 1e-3


def test_luminance_chroma_exr_is_refused_as_unsupported(tmp_path):
    shutil.copy(asset(IMAGES / "openexr__Chromaticities_Rec709_YC.exr"), tmp_path / "yc.0001.exr")
    with pytest.raises(MediaError, match="unsupported EXR channels"):
        probe(str(tmp_path / "yc.####.exr"))


def test_avi_with_misordered_timestamps_is_read_in_display_order(tmp_path):
    source = asset(VIDEO / "mmaction2__test.avi")  # MPEG-4 ASP with packed B-frames
    result = restore_clip(RestoreJobSpec(str(source), str(tmp_path / "f.####.exr"), FrameRange(78, 85)), *identity())
    reference = movie_frames(source, 74, 90)  # FFmpeg's own display order, frames 74..89
    restored = [read_image(p) for p in result.outputs]
    assert len(restored) == 8
    for k, mine in enumerate(restored):  # each output frame is (nearly) identical to its own source frame
        errors = [np.abs(mine - theirs).mean() for theirs in reference]
        assert int(np.argmin(errors)) + 74 == 78 + k and min(errors) < 0.01
