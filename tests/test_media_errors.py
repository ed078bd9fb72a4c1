"""Bad input: one clear line naming the file and the problem, and never output that looks finished."""

from __future__ import annotations

import errno
from fractions import Fraction

import av
import numpy as np
import OpenEXR
import pytest
from media_patterns import write_exr_sequence, write_movie

from vividvr_client.timecode import FrameRange
from vividvr_engine.errors import MediaError
from vividvr_engine.media import target as target_module
from vividvr_engine.preview import PreviewEngine
from vividvr_engine.restore_job import RestoreJobSpec, probe, restore_clip
from vividvr_engine.settings import RestoreSettings


def preview(scale: float = 1) -> tuple[PreviewEngine, RestoreSettings]:
    return PreviewEngine(), RestoreSettings(upscale=scale, num_temporal_process_frames=9)


def only_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture()
def movie(tmp_path):
    return write_movie(tmp_path / "src.mov", "prores_ks", Fraction(25), 20, pix_fmt="yuv422p10le")


def test_missing_file(tmp_path):
    with pytest.raises(MediaError) as exc:
        probe(str(tmp_path / "nope.mov"))
    assert only_line(exc) == f"{tmp_path / 'nope.mov'}: file not found"


def test_unreadable_file(tmp_path):
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"not a movie at all" * 64)
    with pytest.raises(MediaError, match=r"junk\.mov: not a readable movie") as exc:
        probe(str(junk))
    only_line(exc)


def test_truncated_movie_with_index_up_front(tmp_path):
    with av.open(str(tmp_path / "full.mp4"), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    data = (tmp_path / "full.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(MediaError, match=r"cut\.mp4: truncated: the header lists 30 frames") as exc:
        probe(str(tmp_path / "cut.mp4"))
    only_line(exc)


def test_truncated_movie_with_index_at_the_end(movie, tmp_path):
    data = movie.read_bytes()
    (tmp_path / "cut.mov").write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"cut\.mov: not a readable movie: truncated"):
        probe(str(tmp_path / "cut.mov"))


def test_zero_frames(tmp_path):
    with pytest.raises(MediaError, match=r"no files match the sequence pattern \(zero frames\)"):
        probe(str(tmp_path / "none.####.exr"))
    out = av.open(str(tmp_path / "empty.mov"), "w")
    stream = out.add_stream("prores_ks", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv422p10le"
    out.start_encoding()
    out.close()
    with pytest.raises(MediaError, match=r"empty\.mov: no video frames"):
        probe(str(tmp_path / "empty.mov"))


def test_range_outside_the_media(movie, tmp_path):
    with pytest.raises(MediaError, match=r"frames 15-25 are outside the media's frames 0-19") as exc:
        restore_clip(RestoreJobSpec(str(movie), str(tmp_path / "o.mov"), FrameRange(15, 25)), *preview())
    only_line(exc)
    assert leftovers(tmp_path) == ["src.mov"]


def test_sequence_gap_inside_the_range_is_reported_and_outside_it_is_fine(tmp_path):
    pattern = write_exr_sequence(tmp_path / "seq", 1001, 10)
    for n in (1004, 1005, 1008):
        (tmp_path / "seq" / f"plate.{n}.exr").unlink()
    assert probe(str(pattern)).missing == (1004, 1005, 1008)
    with pytest.raises(MediaError, match=r"missing frames 1004-1005, 1008"):
        restore_clip(RestoreJobSpec(str(pattern), str(tmp_path / "o.####.exr"), None), *preview())
    spec = RestoreJobSpec(str(pattern), str(tmp_path / "o.####.exr"), FrameRange(1001, 1003))
    result = restore_clip(spec, *preview())
    assert len(result.outputs) == 3


def test_odd_dimensions_for_a_chroma_subsampled_codec(tmp_path):
    pattern = write_exr_sequence(tmp_path / "seq", 1, 3, size=(63, 47))
    with pytest.raises(MediaError, match=r"o\.mov: ProRes 422 HQ needs an even width, .* 63x47 \(odd dimensions\)"):
        restore_clip(RestoreJobSpec(str(pattern), str(tmp_path / "o.mov"), None), *preview())
    with pytest.raises(MediaError, match=r"H\.264 needs an even width and height"):
        restore_clip(RestoreJobSpec(str(pattern), str(tmp_path / "o.mp4"), None), *preview())
    assert leftovers(tmp_path) == ["seq"]
    restore_clip(RestoreJobSpec(str(pattern), str(tmp_path / "o.mov"), None, "prores4444"), *preview())


def test_unsupported_pixel_format(tmp_path):
    luma = np.ones((48, 64), np.float16)
    chroma = np.zeros((48, 64), np.float16)  # luminance/chroma EXR: not RGB
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {"Y": luma, "RY": chroma, "BY": chroma}).write(str(tmp_path / "yc.0001.exr"))
    with pytest.raises(MediaError, match=r"yc\.0001\.exr: unsupported EXR channels") as exc:
        probe(str(tmp_path / "yc.####.exr"))
    only_line(exc)


def test_variable_frame_rate_is_refused_with_a_way_out(tmp_path):
    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        t = 0
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            t += 40 if i % 3 else 100
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(MediaError, match=r"vfr\.mkv: variable frame rate .* make it constant first") as exc:
        probe(str(path))
    only_line(exc)


def test_existing_output_is_refused_unless_overwrite(movie, tmp_path):
    out = tmp_path / "o.mov"
    out.write_bytes(b"precious")
    with pytest.raises(MediaError, match=r"o\.mov: output exists \(use --overwrite\)"):
        restore_clip(RestoreJobSpec(str(movie), str(out), None), *preview())
    assert out.read_bytes() == b"precious"
    restore_clip(RestoreJobSpec(str(movie), str(out), None, overwrite=True), *preview())
    assert probe(str(out)).last_frame == 19


def test_existing_sequence_frames_are_refused_unless_overwrite(movie, tmp_path):
    (tmp_path / "o.0005.exr").write_bytes(b"precious")
    with pytest.raises(MediaError, match=r"output frames 5 exist"):
        restore_clip(RestoreJobSpec(str(movie), str(tmp_path / "o.####.exr"), None), *preview())
    assert (tmp_path / "o.0005.exr").read_bytes() == b"precious"


def test_disk_full_names_the_output_and_leaves_nothing_that_looks_finished(movie, tmp_path, monkeypatch):
    calls = []

    def full_disk(rgb, fmt, path):
        calls.append(path)
        if len(calls) > 7:  # the first segment (7 frames) fits, the second fills the disk
            raise OSError(errno.ENOSPC, "No space left on device", path)
        target_module.encode_image.__wrapped__(rgb, fmt, path)

    full_disk.__wrapped__ = target_module.encode_image  # type: ignore[attr-defined]
    monkeypatch.setattr(target_module, "encode_image", full_disk)
    out_dir = tmp_path / "out"
    with pytest.raises(MediaError, match=r"o\.####\.exr: disk full while writing frames") as exc:
        restore_clip(RestoreJobSpec(str(movie), str(out_dir / "o.####.exr"), None), *preview())
    only_line(exc)
    assert leftovers(out_dir) == []  # no final frames, no staging folder
