"""Inputs: probing a movie or sequence into `MediaInfo`, and streaming a frame range as a `ClipSource`.

Source frame numbers are the file numbers of an image sequence, or the 0-based frame index
within a movie file. Image sequences carry no rate of their own here; they are taken as 24 fps
(`SEQUENCE_FPS`), which only matters when a sequence is written out as a movie.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice
from pathlib import Path

import numpy as np

from vividvr_client.timecode import FrameRange
from vividvr_engine.errors import MediaError
from vividvr_engine.media.colour import ColourTransform
from vividvr_engine.media.images import IMAGE_EXTENSIONS, image_info
from vividvr_engine.media.movie import MovieIndex, probe_movie, read_movie_frames
from vividvr_engine.media.sequence import (
    SequencePattern,
    SequenceReader,
    describe_frames,
    is_sequence_path,
    missing_frames,
    parse_pattern,
)

SEQUENCE_FPS = Fraction(24)


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` found. Frame numbers are source frame numbers (movie: 0-based index)."""

    path: str
    kind: str  # "movie" | "sequence"
    width: int
    height: int
    fps: Fraction
    first_frame: int
    last_frame: int
    start_timecode: str | None  # label of `first_frame`
    has_audio: bool
    is_float: bool = False  # float (scene-linear) values rather than display-referred code values
    missing: tuple[int, ...] = ()  # sequence frame numbers absent between first and last
    depth: int = 8  # bits per channel of the source (32: float EXR, whose default output stays float)

    @property
    def frames(self) -> FrameRange:
        return FrameRange(self.first_frame, self.last_frame, self.fps, self.start_timecode)


@dataclass(frozen=True)
class OpenedMedia:
    """Probe results plus what reading needs (the movie index or the sequence pattern)."""

    info: MediaInfo
    movie: MovieIndex | None = None
    pattern: SequencePattern | None = None


def open_media(path: str) -> OpenedMedia:
    """Probe a movie file or an image-sequence pattern; raises MediaError naming the file."""
    if is_sequence_path(path):
        pattern = parse_pattern(path)
        numbers = pattern.scan()
        if not numbers:
            raise MediaError(f"{pattern.display()}: no files match the sequence pattern (zero frames)")
        first, last = numbers[0], numbers[-1]
        sample = image_info(pattern.path(first))
        gaps = tuple(missing_frames(numbers, first, last))
        info = MediaInfo(
            pattern.display(), "sequence", sample.width, sample.height, SEQUENCE_FPS,
            first, last, None, False, sample.is_float, gaps, sample.depth,
        )
        return OpenedMedia(info, pattern=pattern)
    if not os.path.exists(path):
        raise MediaError(f"{path}: file not found")
    if path.lower().endswith(IMAGE_EXTENSIONS):
        raise MediaError(f"{path}: a single image has no frame number; name it like name.1001{Path(path).suffix}")
    index = probe_movie(path)
    info = MediaInfo(
        path, "movie", index.width, index.height, index.fps, 0, index.num_frames - 1,
        index.start_timecode, index.has_audio, False, (), index.depth,
    )
    return OpenedMedia(info, movie=index)


def resolve_range(info: MediaInfo, frames: FrameRange | None) -> FrameRange:
    """The requested source frames, checked against the media, with the media's clock attached."""
    if frames is None:
        frames = FrameRange(info.first_frame, info.last_frame)
    if frames.first < info.first_frame or frames.last > info.last_frame:
        raise MediaError(
            f"{info.path}: frames {frames} are outside the media's frames {info.first_frame}-{info.last_frame}"
        )
    gaps = [f for f in info.missing if f in frames]
    if gaps:
        raise MediaError(f"{info.path}: the sequence has missing frames {describe_frames(gaps)}")
    return info.frames.sub(frames.first, frames.last)


class MediaClip:
    """A source frame range as the engine's `ClipSource`: clip index k is source frame `first + k`."""

    def __init__(self, media: OpenedMedia, frames: FrameRange, transform: ColourTransform) -> None:
        self.media = media
        self.range = frames
        self.transform = transform
        self.num_frames = frames.count
        self.height = media.info.height
        self.width = media.info.width
        self.fps = media.info.fps

    def file_stats(self) -> list[list]:
        """[path, size, mtime_ns] of every file the clip reads (the movie, or each frame file), so
        saved work is never resumed after a frame was re-rendered or replaced."""
        if self.media.movie is not None:
            paths = [self.media.info.path]
        else:
            assert self.media.pattern is not None
            paths = [self.media.pattern.path(f) for f in range(self.range.first, self.range.last + 1)]
        stats = []
        for path in paths:
            stat = os.stat(path)
            stats.append([os.path.abspath(path), stat.st_size, stat.st_mtime_ns])
        return stats

    def _raw(self, start: int) -> Iterator[np.ndarray]:
        first = self.range.first + start
        if self.media.movie is not None:
            return islice(read_movie_frames(self.media.movie, first), self.range.last - first + 1)
        assert self.media.pattern is not None
        return SequenceReader(self.media.pattern).frames(first, self.range.last)

    def frames(self, start: int = 0) -> Iterator[np.ndarray]:
        """Working-space float32 frames from clip index `start` to the end of the range."""
        for k, rgb in enumerate(self._raw(start), start):
            if rgb.shape[:2] != (self.height, self.width):
                raise MediaError(
                    f"{self.media.info.path}: frame {self.range.first + k} is {rgb.shape[1]}x{rgb.shape[0]},"
                    f" the clip is {self.width}x{self.height}"
                )
            yield self.transform.to_working(rgb)
