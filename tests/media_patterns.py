"""Test media that names itself: every frame shows its own index as eight black/white bars.

Written with PyAV directly (not through vividvr's writers), so reading tests do not trust the
code under test to make their inputs. The bars survive lossy codecs, chroma subsampling and
resizing: a frame's index is read back by sampling the middle of each bar.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import numpy as np
import OpenEXR

BITS = 8
LOW, HIGH = 0.15, 0.85
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def bar_frame(index: int, height: int, width: int) -> np.ndarray:
    """Float32 RGB whose eight vertical bars spell `index` in binary, most significant bit left."""
    columns = np.arange(width) * BITS // width
    bits = (index >> (BITS - 1 - columns)) & 1
    row = np.where(bits, HIGH, LOW).astype(np.float32)
    return np.repeat(np.repeat(row[None, :, None], height, axis=0), 3, axis=2)


def read_index(rgb: np.ndarray) -> int:
    """The index a `bar_frame` shows, from the centre pixel of each bar (any size)."""
    height, width = rgb.shape[:2]
    value = 0
    for bit in range(BITS):
        x = int((bit + 0.5) * width / BITS)
        value = value << 1 | int(rgb[height // 2, x].mean() > 0.5)
    return value


def write_movie(
    path: Path,
    codec: str,
    rate: Fraction,
    count: int,
    size: tuple[int, int] = (64, 48),
    pix_fmt: str = "yuv420p",
    timecode: str | None = None,
    audio: bool = False,
    options: dict | None = None,
) -> Path:
    """A movie of `count` bar frames (index 0..count-1) at `rate`, optionally with timecode and a tone."""
    width, height = size
    with av.open(str(path), "w") as out:
        if timecode:
            out.metadata["timecode"] = timecode
        stream = out.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        sound = out.add_stream("aac", rate=48000) if audio else None
        samples_per_frame = 48000 / rate
        sent = 0
        for i in range(count):
            rgb = np.rint(bar_frame(i, height, width) * 65535).astype(np.uint16)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le").reformat(
                format=pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG"
            )
            frame.pts = i
            out.mux(stream.encode(frame))
            if sound is not None:
                upto = round((i + 1) * samples_per_frame)
                t = np.arange(sent, upto) / 48000
                tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
                chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 48000, sent
                out.mux(sound.encode(chunk))
                sent = upto
        out.mux(stream.encode(None))
        if sound is not None:
            out.mux(sound.encode(None))
    return path


def write_exr_sequence(folder: Path, first: int, count: int, size: tuple[int, int] = (64, 48), gain: float = 1.0):
    """EXR half files name.NNNN.exr for frames first..first+count-1: bars for frame numbers, times `gain`."""
    width, height = size
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(first, first + count):
        rgb = bar_frame(number - first, height, width) * gain
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {"RGB": rgb.astype(np.float16)}).write(str(folder / f"plate.{number:04d}.exr"))
    return folder / "plate.####.exr"


def movie_frames(path: Path, first: int = 0, stop: int | None = None) -> list[np.ndarray]:
    """Decoded frames `first`..`stop - 1` (all by default) as float32 RGB, decoding from the start."""
    with av.open(str(path)) as container:
        decoded = islice(container.decode(video=0), stop)
        return [
            f.reformat(format="rgb48le").to_ndarray().astype(np.float32) / 65535
            for n, f in enumerate(decoded) if n >= first
        ]


def movie_timecode(path: Path) -> str | None:
    """The start timecode FFmpeg reports for a movie (stream or container tag, any case)."""
    with av.open(str(path)) as container:
        tags = {**container.metadata, **container.streams.video[0].metadata}
        return next((v for k, v in tags.items() if k.lower() == "timecode"), None)
