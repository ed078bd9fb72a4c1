"""Done-when: scale-1 round trips are colour-true; scene-linear values come back unclipped."""

from __future__ import annotations

import av
import numpy as np
import OpenEXR
import pytest

from vividvr_engine.media.colour import Identity, SceneLinearShaper
from vividvr_engine.media.images import read_image
from vividvr_engine.preview import PreviewEngine
from vividvr_engine.restore_job import RestoreJobSpec, probe, restore_clip
from vividvr_engine.settings import RestoreSettings

RNG = np.random.default_rng(7)
SIZE = (48, 64)


def identity_engine() -> tuple[PreviewEngine, RestoreSettings]:
    return PreviewEngine(), RestoreSettings(upscale=1, num_temporal_process_frames=9)


def write_ffmpeg_image(path, codes: np.ndarray, codec: str, pix_fmt: str, source_format: str) -> None:
    """Encode integer code values with FFmpeg itself (independent of vividvr's writer)."""
    context = av.CodecContext.create(codec, "w")
    context.height, context.width = codes.shape[:2]
    context.pix_fmt = pix_fmt
    frame = av.VideoFrame.from_ndarray(codes, format=source_format)
    if pix_fmt != source_format:
        frame = frame.reformat(format=pix_fmt)
    path.write_bytes(b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)]))


def write_exr(path, rgb: np.ndarray) -> None:
    header = {"compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {"RGB": rgb}).write(str(path))


def test_shaper_maps_scene_linear_into_unit_range_and_back_exactly():
    linear = np.array([-0.05, 0.0, 0.001, 0.0078125, 0.18, 1.0, 8.0, 100.0, 65504.0], np.float32)
    working = SceneLinearShaper().to_working(linear)
    assert np.all(np.diff(working) > 0)
    assert 0 <= working[1] < working[-3] < 1  # 0 .. 100 stay inside the engine's range
    back = SceneLinearShaper().from_working(working)
    np.testing.assert_allclose(back, linear, rtol=2e-6, atol=1e-7)


def test_identity_is_identity():
    x = RNG.random((4, 4, 3), dtype=np.float32)
    assert Identity().from_working(Identity().to_working(x)) is x


def round_trip(tmp_path, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(source, restored) pixels of frames 1-3 restored at scale 1 into the same format."""
    src = str(tmp_path / f"src.####.{name}")
    out = str(tmp_path / "out" / f"dst.####.{name}")
    result = restore_clip(RestoreJobSpec(src, out, None), *identity_engine())
    sources = [src.replace("####", f"{n:04d}") for n in range(1, 4)]
    return [(read_image(a), read_image(b)) for a, b in zip(sources, result.outputs, strict=True)]


@pytest.mark.parametrize(("ext", "codec", "pix_fmt"), [("png", "png", "rgb48be"), ("tif", "tiff", "rgb48le")])
def test_16_bit_images_round_trip_within_1e_3(tmp_path, ext, codec, pix_fmt):
    for n in range(1, 4):
        codes = RNG.integers(0, 65536, (*SIZE, 3), dtype=np.uint16)
        write_ffmpeg_image(tmp_path / f"src.{n:04d}.{ext}", codes, codec, pix_fmt, "rgb48le")
    for source, restored in round_trip(tmp_path, ext):
        assert np.abs(restored - source).max() < 1e-3
        assert np.array_equal(np.rint(restored * 65535), np.rint(source * 65535))


@pytest.mark.parametrize(("ext", "codec"), [("png", "png"), ("tif", "tiff")])
def test_8_bit_images_round_trip_within_one_code_value(tmp_path, ext, codec):
    for n in range(1, 4):
        codes = RNG.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
        write_ffmpeg_image(tmp_path / f"src.{n:04d}.{ext}", codes, codec, "rgb24", "rgb24")
    for source, restored in round_trip(tmp_path, ext):
        assert np.abs(np.rint(restored * 255) - np.rint(source * 255)).max() <= 1


def test_10_bit_dpx_round_trips_code_values(tmp_path):
    for n in range(1, 4):
        codes = (RNG.integers(0, 1024, (*SIZE, 3), dtype=np.uint16) << 6).astype(np.uint16)
        write_ffmpeg_image(tmp_path / f"src.{n:04d}.dpx", codes, "dpx", "gbrp10le", "rgb48le")
    for source, restored in round_trip(tmp_path, "dpx"):
        assert np.array_equal(np.rint(restored * 1023), np.rint(source * 1023))


def test_half_exr_with_values_up_to_8_comes_back_unclipped_and_exact(tmp_path):
    for n in range(1, 4):
        rgb = (RNG.random((*SIZE, 3)) * 8.2 - 0.1).astype(np.float16)
        rgb[0, 0] = [8.0, 0.0, -0.0625]
        write_exr(tmp_path / f"src.{n:04d}.exr", rgb)
    for source, restored in round_trip(tmp_path, "exr"):
        assert restored.max() >= 8.0 and restored.min() < 0
        assert np.abs(restored - source).max() < 1e-3


def test_float32_exr_round_trips_within_1e_3_and_stays_32_bit(tmp_path):
    for n in range(1, 4):
        write_exr(tmp_path / f"src.{n:04d}.exr", (RNG.random((*SIZE, 3)) * 8).astype(np.float32))
    assert probe(str(tmp_path / "src.####.exr")).depth == 32
    for source, restored in round_trip(tmp_path, "exr"):
        assert np.abs(restored - source).max() < 1e-5
    with OpenEXR.File(str(tmp_path / "out" / "dst.0001.exr"), separate_channels=True) as exr:
        assert exr.channels()["R"].pixels.dtype == np.float32


def test_ocio_config_declares_the_working_space_and_maps_back(tmp_path):
    pytest.importorskip("PyOpenColorIO", reason="OpenColorIO is optional (pip install opencolorio)")
    from vividvr_engine.media.colour import OcioColourSpaces, OcioTransform

    spaces = OcioColourSpaces("ocio://default", "ACEScg", "ACEScct")
    linear = (RNG.random((*SIZE, 3)) * 8).astype(np.float32)
    working = OcioTransform(spaces).to_working(linear)
    assert working.min() > 0 and working.max() < 1  # the log working space holds 0..8 inside [0, 1]
    for n in range(1, 4):
        write_exr(tmp_path / f"src.{n:04d}.exr", linear)
    out = tmp_path / "out" / "dst.####.exr"
    result = restore_clip(RestoreJobSpec(str(tmp_path / "src.####.exr"), str(out), None, colour=spaces),
                          *identity_engine())
    assert np.abs(read_image(result.outputs[0]) - linear).max() < 1e-3


def test_ocio_unknown_colour_space_is_a_settings_error():
    pytest.importorskip("PyOpenColorIO", reason="OpenColorIO is optional (pip install opencolorio)")
    from vividvr_engine.errors import SettingsError
    from vividvr_engine.media.colour import OcioColourSpaces, OcioTransform

    with pytest.raises(SettingsError, match="could not be found"):
        OcioTransform(OcioColourSpaces("ocio://default", "no such space", "ACEScct"))
