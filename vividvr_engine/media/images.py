"""Single image files: EXR through OpenEXR, DPX/TIFF/PNG through FFmpeg's codecs (PyAV).

Reading returns float32 RGB (H, W, 3) without clipping: integer code values divided by their
maximum, EXR half/float values as they are. Writing takes the same and stores it at the format's
depth: EXR half (or float), 16-bit TIFF/PNG, 10-bit DPX.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import OpenEXR

from vividvr_engine.errors import MediaError
from vividvr_engine.media.colour import quantize

EXR_EXTENSIONS = (".exr",)
FFMPEG_IMAGE_EXTENSIONS = (".dpx", ".tif", ".tiff", ".png")
IMAGE_EXTENSIONS = EXR_EXTENSIONS + FFMPEG_IMAGE_EXTENSIONS


@dataclass(frozen=True)
class ImageFormat:
    """How an output image format is encoded."""

    name: str
    extensions: tuple[str, ...]
    codec: str  # "exr" or an FFmpeg encoder
    pix_fmt: str  # FFmpeg pixel format; for EXR "half" or "float"
    bits: int


IMAGE_FORMATS = {
    "exr": ImageFormat("exr", (".exr",), "exr", "half", 16),
    "exr32": ImageFormat("exr32", (".exr",), "exr", "float", 32),
    "tiff16": ImageFormat("tiff16", (".tif", ".tiff"), "tiff", "rgb48le", 16),
    "png16": ImageFormat("png16", (".png",), "png", "rgb48be", 16),
    "dpx": ImageFormat("dpx", (".dpx",), "dpx", "gbrp10le", 10),
}


def image_format_for(path: str) -> ImageFormat:
    """The default output format for a file name's extension."""
    ext = Path(path).suffix.lower()
    for fmt in IMAGE_FORMATS.values():
        if ext in fmt.extensions:
            return fmt
    raise MediaError(f"{path}: unknown image extension {ext!r}; use .exr, .dpx, .tif or .png")


# ------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    is_float: bool
    depth: int  # bits per channel as stored: 8, 10, 12, 16 (incl. half float) or 32


def _exr_rgb(path: str) -> tuple[np.ndarray, int]:
    """(RGB of an EXR's display window, bits per channel); data outside the window is cropped, missing is black."""
    try:
        with OpenEXR.File(path, separate_channels=True) as exr:
            header = exr.header()
            data_window, display_window = header["dataWindow"], header["displayWindow"]
            channels = {name: channel.pixels for name, channel in exr.channels().items()}
    except Exception as exc:  # OpenEXR raises plain exceptions for truncated or foreign files
        raise MediaError(f"{path}: not a readable EXR ({exc})") from None
    names = set(channels)
    if {"R", "G", "B"} <= names:
        planes = [channels[c] for c in "RGB"]
    elif "Y" in names and not names & {"RY", "BY"}:
        planes = [channels["Y"]] * 3
    else:
        raise MediaError(f"{path}: unsupported EXR channels {sorted(names)}; need R, G, B (or Y)")
    (dx0, dy0), (dx1, dy1) = (tuple(int(v) for v in corner) for corner in data_window)
    (wx0, wy0), (wx1, wy1) = (tuple(int(v) for v in corner) for corner in display_window)
    depth = max(p.dtype.itemsize for p in planes) * 8
    data = np.stack([np.asarray(p, dtype=np.float32) for p in planes], axis=-1)
    if (dx0, dy0, dx1, dy1) == (wx0, wy0, wx1, wy1):
        return data, depth
    out = np.zeros((wy1 - wy0 + 1, wx1 - wx0 + 1, 3), np.float32)
    x0, y0, x1, y1 = max(dx0, wx0), max(dy0, wy0), min(dx1, wx1), min(dy1, wy1)
    if x0 <= x1 and y0 <= y1:
        out[y0 - wy0 : y1 - wy0 + 1, x0 - wx0 : x1 - wx0 + 1] = data[y0 - dy0 : y1 - dy0 + 1, x0 - dx0 : x1 - dx0 + 1]
    return out, depth


def frame_to_rgb(frame: av.VideoFrame, path: str) -> np.ndarray:
    """A decoded FFmpeg frame as float32 RGB: 8-bit via rgb24, deeper via rgb48, float via gbrpf32."""
    fmt = frame.format
    try:
        bits = max(c.bits for c in fmt.components)
        if "f32" in fmt.name or "f16" in fmt.name:
            planes = frame.to_ndarray(format="gbrpf32le", channel_last=True)
            return np.ascontiguousarray(planes, dtype=np.float32)
        src_cs = None
        if not fmt.is_rgb and frame.colorspace == 2:  # untagged YUV: HD is BT.709 by convention
            src_cs = "ITU709" if frame.height >= 720 else "ITU601"
        if bits <= 8:
            rgb = frame.reformat(format="rgb24", src_colorspace=src_cs).to_ndarray()
            return rgb.astype(np.float32) * np.float32(1 / 255)
        rgb = frame.reformat(format="rgb48le", src_colorspace=src_cs).to_ndarray()
        return rgb.astype(np.float32) * np.float32(1 / 65535)
    except (ValueError, av.FFmpegError) as exc:
        raise MediaError(f"{path}: unsupported pixel format {fmt.name} ({exc})") from None


def _decode(path: str) -> tuple[np.ndarray, ImageInfo]:
    if not os.path.isfile(path):
        raise MediaError(f"{path}: file not found")
    if path.lower().endswith(EXR_EXTENSIONS):
        rgb, depth = _exr_rgb(path)
        return rgb, ImageInfo(rgb.shape[1], rgb.shape[0], True, depth)
    try:
        with av.open(path) as container:
            frame = next(container.decode(video=0))
    except (av.FFmpegError, StopIteration, IndexError) as exc:
        raise MediaError(f"{path}: not a readable image ({exc or 'no picture'})") from None
    rgb = frame_to_rgb(frame, path)
    depth = max(c.bits for c in frame.format.components)
    return rgb, ImageInfo(rgb.shape[1], rgb.shape[0], depth == 32, depth)


def read_image(path: str) -> np.ndarray:
    """One image file as float32 RGB (H, W, 3), unclipped."""
    return _decode(path)[0]


def image_info(path: str) -> ImageInfo:
    """Size, depth and whether values are float (scene-linear) for one image file."""
    return _decode(path)[1]


# ------------------------------------------------------------------------------------- writing


def encode_image(rgb: np.ndarray, fmt: ImageFormat, path: str) -> None:
    """Write float32 RGB to `path` in `fmt` (the caller picks a temporary name and renames)."""
    if fmt.codec == "exr":
        dtype = np.float16 if fmt.pix_fmt == "half" else np.float32
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {"RGB": np.ascontiguousarray(rgb, dtype=dtype)}).write(path)
        return
    height, width = rgb.shape[:2]
    codec = av.CodecContext.create(fmt.codec, "w")
    codec.width, codec.height, codec.pix_fmt = width, height, fmt.pix_fmt
    frame = av.VideoFrame.from_ndarray(quantize(rgb, 16, path), format="rgb48le")
    if fmt.pix_fmt != "rgb48le":
        frame = frame.reformat(format=fmt.pix_fmt)
    packets = [*codec.encode(frame), *codec.encode(None)]
    with open(path, "wb") as handle:
        for packet in packets:
            handle.write(bytes(packet))
