"""Movies through FFmpeg (PyAV): a frame-accurate index, streamed decoding, segment encoding, muxing.

Frame numbers of a movie are 0-based indices in presentation order: frame i is the packet with
the i-th smallest presentation timestamp (packets the container's edit list discards are not
frames). Probing demuxes every packet once (no decoding) to build that index, which also gives
the exact frame count and detects truncation and variable frame rate.

Variable frame rate is refused, not conformed: conforming means inventing or dropping frames,
and a finishing tool that silently changes the frame count breaks the conform. The message says
how to make a constant-rate file first.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from vividvr_client.timecode import parse_timecode
from vividvr_engine.errors import MediaError
from vividvr_engine.media.colour import quantize
from vividvr_engine.media.images import frame_to_rgb

log = logging.getLogger("vividvr.media")

# ------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class MovieIndex:
    """What probing a movie found: size, exact rate, and each frame's presentation timestamp."""

    path: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    pts: np.ndarray = field(repr=False)  # int64, sorted; frame i is pts[i]
    start_timecode: str | None
    has_audio: bool
    depth: int  # bits per channel of the coded pictures

    @property
    def num_frames(self) -> int:
        return len(self.pts)

    def seconds_of(self, frame: int) -> Fraction:
        """Presentation time of frame `frame` (frame `num_frames` is the end of the last one)."""
        if frame < self.num_frames:
            return int(self.pts[frame]) * self.time_base
        return int(self.pts[-1]) * self.time_base + (frame - self.num_frames + 1) / self.fps


def _open(path: str) -> av.container.InputContainer:
    try:
        return av.open(path)
    except FileNotFoundError:
        raise MediaError(f"{path}: file not found") from None
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: not a readable movie: truncated or not a movie file ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _container_timecode(container: av.container.InputContainer) -> str | None:
    """The start timecode from the video stream, a tmcd/data stream, or the container, in that order."""
    def tag(metadata: dict) -> str | None:  # Matroska spells it TIMECODE
        return next((value for key, value in metadata.items() if key.lower() == "timecode"), None)

    candidates = [tag(container.streams.video[0].metadata)]
    candidates += [tag(s.metadata) for s in container.streams if s.type == "data"]
    candidates.append(tag(container.metadata))
    return next((tc for tc in candidates if tc), None)


def constant_rate_error(pts: np.ndarray, fps: Fraction, time_base: Fraction) -> int:
    """Largest distance, in timestamp ticks, of any frame from a constant-rate clock through frame 0."""
    if len(pts) < 2:
        return 0
    step = float(1 / (fps * time_base))
    ideal = pts[0] + np.arange(len(pts)) * step
    return int(np.ceil(np.abs(pts - ideal).max() - 1e-6))


def probe_movie(path: str) -> MovieIndex:
    """Index a movie's frames; raises MediaError for anything that would break frame accuracy."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video frames (the file has no video stream)")
        video = container.streams.video[0]
        time_base = video.time_base
        pts_list: list[int] = []
        missing_pts = 0
        try:
            for packet in container.demux(video):
                if packet.size == 0 or packet.is_discard:
                    continue
                if packet.pts is None:
                    missing_pts += 1
                else:
                    pts_list.append(packet.pts)
        except av.FFmpegError as exc:
            raise MediaError(
                f"{path}: truncated or corrupt after frame {len(pts_list)} ({_reason(exc)})"
            ) from None
        if not pts_list and not missing_pts:
            raise MediaError(f"{path}: the video stream has zero frames")
        if missing_pts:
            raise MediaError(f"{path}: {missing_pts} frames carry no timestamps, so frames cannot be located exactly")
        pts = np.sort(np.asarray(pts_list, dtype=np.int64))
        if len(np.unique(pts)) != len(pts):
            raise MediaError(f"{path}: several frames share a timestamp; remux or conform the file first")
        declared = video.frames
        if declared and declared > len(pts):
            raise MediaError(f"{path}: truncated: the header lists {declared} frames, only {len(pts)} are present")
        rates = [r for r in (video.guessed_rate, video.average_rate, video.base_rate) if r]
        if not rates:
            raise MediaError(f"{path}: the video stream declares no frame rate")
        fps = next((Fraction(r) for r in rates if constant_rate_error(pts, Fraction(r), time_base) <= 1), None)
        if fps is None:
            raise MediaError(
                f"{path}: variable frame rate (about {float(rates[0]):.3f} fps); make it constant first, e.g. "
                f"ffmpeg -i IN -vf fps={Fraction(rates[0])} -c:v prores_ks -profile:v 3 OUT.mov"
            )
        timecode = _container_timecode(container)
        if timecode is not None:
            try:
                parse_timecode(timecode, fps)
            except ValueError:
                timecode = None
        width, height = video.codec_context.width, video.codec_context.height
        if not width or not height:
            raise MediaError(f"{path}: the video stream has no picture size")
        has_audio = bool(container.streams.audio)
        coded = video.codec_context.format
        depth = max(c.bits for c in coded.components) if coded is not None else 8
    return MovieIndex(path, width, height, fps, time_base, pts, timecode, has_audio, depth)


class _TimestampsOutOfOrder(Exception):
    """The decoder labels frames out of timestamp order (e.g. AVI with packed B-frames)."""

    def __init__(self, next_frame: int) -> None:
        super().__init__(next_frame)
        self.next_frame = next_frame


def read_movie_frames(index: MovieIndex, start: int) -> Iterator[np.ndarray]:
    """Float32 RGB frames `start`, `start + 1`, ... to the end.

    Frames are matched to the index by timestamp, decoding only from the nearest keyframe. When
    even decoding from the first frame yields timestamps out of order (some AVI files guess them
    wrongly), frames are numbered by the decoder's output order instead, which is display order.
    """
    try:
        yield from _frames_by_timestamp(index, start)
    except _TimestampsOutOfOrder as exc:
        log.warning("%s: frame timestamps are out of order; numbering frames in display order", index.path)
        yield from _frames_by_count(index, exc.next_frame)


def _frames_by_timestamp(index: MovieIndex, start: int) -> Iterator[np.ndarray]:
    by_pts = {int(p): i for i, p in enumerate(index.pts)}
    with _open(index.path) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        expected = start
        from_first = start == 0
        if start > 0:
            container.seek(int(index.pts[start]), stream=video, backward=True, any_frame=False)
        while expected < index.num_frames:
            landed_late = False
            previous = -1
            try:
                for frame in container.decode(video):
                    number = by_pts.get(frame.pts) if frame.pts is not None else None
                    if number is not None and number <= previous:
                        raise _TimestampsOutOfOrder(expected)  # decoders emit display order: labels are wrong
                    previous = previous if number is None else number
                    if number is None or number < expected:
                        continue
                    if number > expected:
                        landed_late = True
                        break
                    yield frame_to_rgb(frame, index.path)
                    expected += 1
                    if expected == index.num_frames:
                        return
            except av.FFmpegError as exc:
                raise MediaError(f"{index.path}: cannot decode frame {expected} ({_reason(exc)})") from None
            if not landed_late:
                raise MediaError(f"{index.path}: frame {expected} could not be decoded (file truncated or damaged)")
            if from_first:  # a later frame came first even decoding from the start: labels are wrong
                raise _TimestampsOutOfOrder(expected)
            from_first = True  # the seek landed after the frame: decode from the start instead
            container.seek(int(index.pts[0]), stream=video, backward=True, any_frame=False)


def _frames_by_count(index: MovieIndex, start: int) -> Iterator[np.ndarray]:
    """Frames `start`.. numbered by decoder output order, decoding from the first frame."""
    decoded = 0
    with _open(index.path) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        try:
            for decoded, frame in enumerate(container.decode(video), 1):
                if decoded > start:
                    yield frame_to_rgb(frame, index.path)
                if decoded == index.num_frames:
                    return
        except av.FFmpegError as exc:
            raise MediaError(f"{index.path}: cannot decode frame {decoded} ({_reason(exc)})") from None
    raise MediaError(f"{index.path}: only {decoded} of {index.num_frames} frames could be decoded (damaged file)")


# ------------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class MovieFormat:
    """An output codec with the constraints FFmpeg's encoder puts on picture size."""

    name: str
    label: str
    codec: str
    pix_fmt: str
    pix_fmt_10bit: str | None
    options: dict[str, str]
    even_width: bool
    even_height: bool
    min_size: tuple[int, int] = (1, 1)  # (width, height)


MOVIE_FORMATS = {
    "prores": MovieFormat("prores", "ProRes 422 HQ", "prores_ks", "yuv422p10le", None,
                          {"profile": "3", "vendor": "apl0"}, True, False),
    "prores4444": MovieFormat("prores4444", "ProRes 4444", "prores_ks", "yuv444p10le", None,
                              {"profile": "4", "vendor": "apl0"}, False, False),
    "dnxhr": MovieFormat("dnxhr", "DNxHR HQX", "dnxhd", "yuv422p10le", None,
                         {"profile": "dnxhr_hqx"}, True, False, (256, 120)),
    "h264": MovieFormat("h264", "H.264", "libx264", "yuv420p", "yuv420p10le",
                        {"crf": "10", "preset": "medium"}, True, True),
    "h265": MovieFormat("h265", "H.265", "libx265", "yuv420p", "yuv420p10le",
                        {"crf": "10", "preset": "medium", "x265-params": "log-level=error"}, True, True),
}


def movie_size_problem(fmt: MovieFormat, width: int, height: int) -> str | None:
    """Why `fmt` cannot encode a `width` x `height` picture, or None when it can."""
    if (fmt.even_width and width % 2) or (fmt.even_height and height % 2):
        axes = "width and height" if fmt.even_height else "width"
        return f"{fmt.label} needs an even {axes}, the output would be {width}x{height} (odd dimensions)"
    if width < fmt.min_size[0] or height < fmt.min_size[1]:
        return f"{fmt.label} needs at least {fmt.min_size[0]}x{fmt.min_size[1]}, the output would be {width}x{height}"
    return None


def encode_segment(
    path: str, frames: Iterable[np.ndarray], size: tuple[int, int], fmt: MovieFormat, fps: Fraction,
    ten_bit: bool = False,
) -> None:
    """Encode float32 RGB frames of `size` (height, width) into a video-only .mov segment at `path`."""
    pix_fmt = fmt.pix_fmt_10bit if ten_bit and fmt.pix_fmt_10bit else fmt.pix_fmt
    height, width = size
    with av.open(path, "w", format="mov") as out:
        stream = out.add_stream(fmt.codec, rate=fps, options=dict(fmt.options))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        context = stream.codec_context
        context.color_range, context.colorspace = 1, 1  # limited range, BT.709
        context.color_primaries, context.color_trc = 1, 1
        context.thread_count = 0
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(quantize(rgb, 16, path), format="rgb48le")
            frame = frame.reformat(format=pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _audio_packets(source: MovieIndex, first: int, count: int) -> Iterator[tuple[Fraction, av.Packet]]:
    """Audio packets starting within the restored frames' time span, with times relative to its start.

    Copying is packet-exact, not sample-exact: a sub-range keeps whole audio packets (about 20 ms).
    """
    start, stop = source.seconds_of(first), source.seconds_of(first + count)
    with av.open(source.path) as container:
        audio = container.streams.audio[0]
        if first > 0:
            container.seek(math.floor(start / audio.time_base), stream=audio, backward=True)
        for packet in container.demux(audio):
            if packet.size == 0 or packet.pts is None:
                continue
            t = packet.pts * audio.time_base
            if t < start:
                continue
            if t >= stop:
                break
            yield t - start, packet


def mux_segments(
    path: str,
    container_format: str | None,
    segments: list[str],
    fps: Fraction,
    timecode: str | None,
    audio_from: tuple[MovieIndex, int, int] | None,
) -> None:
    """Join encoded segments into one movie at `path` (no re-encoding), tagging timecode and copying audio."""
    with av.open(path, "w", format=container_format) as out:
        if timecode:
            out.metadata["timecode"] = timecode
        with av.open(segments[0]) as first_segment:
            video_out = out.add_stream_from_template(first_segment.streams.video[0])
        video_out.codec_context.framerate = fps  # the mov muxer needs the rate to write a timecode track
        audio_iter = None
        if audio_from is not None:
            source, first, count = audio_from
            with av.open(source.path) as src:
                audio_out = out.add_stream_from_template(src.streams.audio[0])
            audio_iter = _audio_packets(source, first, count)
        pending = next(audio_iter, None) if audio_iter else None
        offset = 0  # frames already muxed
        for segment in segments:
            with av.open(segment) as seg:
                stream = seg.streams.video[0]
                shift = round(Fraction(offset) / fps / stream.time_base)
                frames = 0
                for packet in seg.demux(stream):
                    if packet.size == 0:
                        continue
                    t = (packet.dts + shift) * stream.time_base if packet.dts is not None else None
                    while pending is not None and t is not None and pending[0] <= t:
                        pending[1].stream = audio_out
                        pending[1].pts = pending[1].dts = round(pending[0] / pending[1].time_base)
                        out.mux(pending[1])
                        pending = next(audio_iter, None)
                    packet.pts += shift
                    if packet.dts is not None:
                        packet.dts += shift
                    packet.stream = video_out
                    out.mux(packet)
                    frames += 1
                offset += frames
        while pending is not None:
            pending[1].stream = audio_out
            pending[1].pts = pending[1].dts = round(pending[0] / pending[1].time_base)
            out.mux(pending[1])
            pending = next(audio_iter, None)
