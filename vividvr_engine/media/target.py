"""Outputs: choosing the format, staging finished segments, and publishing them atomically.

Nothing is ever written under a final name before it is complete. Each finished segment goes
to a work folder first (temporary name, then renamed), together with a manifest, so an
interrupted job leaves finished segments a resume keeps. When every frame is there, sequence
files are renamed to their final names (source frame numbers) and movie segments are joined,
without re-encoding, into a temporary movie that is renamed to the output path.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vividvr_engine.errors import MediaError
from vividvr_engine.media.colour import ColourTransform
from vividvr_engine.media.images import IMAGE_FORMATS, ImageFormat, encode_image, image_format_for
from vividvr_engine.media.movie import (
    MOVIE_FORMATS,
    MovieFormat,
    MovieIndex,
    encode_segment,
    movie_size_problem,
    mux_segments,
)
from vividvr_engine.media.sequence import SequencePattern, describe_frames, is_sequence_path, parse_pattern

log = logging.getLogger("vividvr.media")

FORMATS = ("exr", "prores", "prores4444", "dnxhr", "h264", "h265", "tiff16", "png16")
# container (FFmpeg muxer name) per movie extension, and which codecs each may hold
CONTAINERS = {".mov": "mov", ".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska"}
CONTAINER_CODECS = {
    "mov": set(MOVIE_FORMATS),
    "mp4": {"h264", "h265"},
    "matroska": {"h264", "h265"},
}
DEFAULT_MOVIE_FORMAT = {"mov": "prores", "mp4": "h264", "matroska": "h264"}
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class OutputTarget:
    """Where and how restored frames are written."""

    path: str
    image: ImageFormat | None = None
    pattern: SequencePattern | None = None
    movie: MovieFormat | None = None
    container: str | None = None
    ten_bit: bool = False

    @property
    def kind(self) -> str:
        return "sequence" if self.pattern else "movie"

    @property
    def format_name(self) -> str:
        fmt = self.image or self.movie
        assert fmt is not None
        return fmt.name


def plan_output(path: str, fmt: str | None, source_depth: int, ten_bit: bool = False) -> OutputTarget:
    """Resolve the output kind and format from `--format` and the output name.

    EXR output is half float, except from a 32-bit float source, which stays 32-bit so that
    float values round-trip exactly.
    """
    if fmt is not None and fmt not in FORMATS and fmt not in IMAGE_FORMATS:
        raise MediaError(f"{path}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if is_sequence_path(path) and not path.lower().endswith(tuple(CONTAINERS)):
        pattern = parse_pattern(path)
        image = IMAGE_FORMATS.get(fmt or "")
        if fmt is not None and image is None:
            raise MediaError(f"{path}: --format {fmt} writes a movie, but the output is an image-sequence pattern")
        by_extension = image_format_for(path)
        if image is not None and Path(path).suffix.lower() not in image.extensions:
            raise MediaError(f"{path}: --format {fmt} needs a {'/'.join(image.extensions)} file name")
        image = image or by_extension
        if image.codec == "exr" and source_depth == 32:
            image = IMAGE_FORMATS["exr32"]
        return OutputTarget(path, image=image, pattern=pattern)
    ext = Path(path).suffix.lower()
    if ext not in CONTAINERS:
        raise MediaError(
            f"{path}: use a movie name ending {', '.join(CONTAINERS)} or a sequence pattern like name.####.exr"
        )
    container = CONTAINERS[ext]
    if fmt in IMAGE_FORMATS:
        raise MediaError(f"{path}: --format {fmt} writes an image sequence; give a pattern like name.####{ext}")
    name = fmt or DEFAULT_MOVIE_FORMAT[container]
    if name not in CONTAINER_CODECS[container]:
        raise MediaError(f"{path}: {MOVIE_FORMATS[name].label} cannot go in a {ext} file; use .mov")
    movie = MOVIE_FORMATS[name]
    if ten_bit and movie.pix_fmt_10bit is None:
        raise MediaError(f"{path}: {movie.label} is always 10-bit; --bit-depth applies to h264/h265")
    return OutputTarget(path, movie=movie, container=container, ten_bit=ten_bit)


def check_output(target: OutputTarget, first: int, last: int, width: int, height: int, overwrite: bool) -> None:
    """Refuse what would fail later or clobber existing work: sizes the codec rejects, existing files."""
    if target.movie is not None:
        problem = movie_size_problem(target.movie, width, height)
        if problem:
            raise MediaError(f"{target.path}: {problem}")
    if overwrite:
        return
    if target.pattern is not None:
        existing = [f for f in range(first, last + 1) if os.path.exists(target.pattern.path(f))]
        if existing:
            raise MediaError(
                f"{target.pattern.display()}: output frames {describe_frames(existing)} exist (use --overwrite)"
            )
    elif os.path.exists(target.path):
        raise MediaError(f"{target.path}: output exists (use --overwrite)")


def _write_error(path: str, what: str, exc: OSError) -> MediaError:
    if exc.errno == errno.ENOSPC:
        return MediaError(f"{path}: disk full while writing {what}")
    return MediaError(f"{path}: cannot write {what} ({exc.strerror or exc})")


def publish_file(staged: str, final: str) -> None:
    """Move a finished file to its final name atomically, copying first when across file systems."""
    try:
        os.replace(staged, final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        partial = os.path.join(os.path.dirname(final) or ".", f".{os.path.basename(final)}.partial")
        shutil.copyfile(staged, partial)
        os.replace(partial, final)
        os.remove(staged)


class Workspace:
    """The work folder of one job: a manifest of finished segments and their staged files."""

    def __init__(self, folder: Path, fingerprint: dict) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        self.segments: list[dict] = []
        folder.mkdir(parents=True, exist_ok=True)
        manifest = folder / MANIFEST
        if manifest.exists():
            try:
                saved = json.loads(manifest.read_text())
            except (OSError, ValueError):
                saved = {}
            if saved.get("fingerprint") == fingerprint:
                self.segments = self._contiguous(saved.get("segments", []))
            else:
                log.warning("%s: state from a different job; starting over", folder)
                self._clear()
        self._save()

    def _contiguous(self, segments: list[dict]) -> list[dict]:
        """The finished segments from frame 0 on whose files are all present; the rest is redone."""
        kept, expected = [], 0
        for segment in sorted(segments, key=lambda s: s["first"]):
            if segment["first"] != expected or not all((self.folder / f).exists() for f in segment["files"]):
                break
            kept.append(segment)
            expected += segment["count"]
        return kept

    def _clear(self) -> None:
        for child in self.folder.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    def _save(self) -> None:
        temporary = self.folder / (MANIFEST + ".tmp")
        temporary.write_text(json.dumps({"fingerprint": self.fingerprint, "segments": self.segments}))
        os.replace(temporary, self.folder / MANIFEST)

    @property
    def frames_done(self) -> int:
        return sum(s["count"] for s in self.segments)

    def add_segment(self, first: int, count: int, files: list[str]) -> None:
        self.segments.append({"first": first, "count": count, "files": files})
        self._save()

    def staged(self, name: str) -> Path:
        return self.folder / name


# (first source frame, last source frame, staged files) of each segment as it is finished
SegmentCallback = Callable[[int, int, list[str]], None]


class SegmentSink:
    """The engine's `FrameSink`: maps working values back, encodes and stages each finished segment.

    Clip index k is source frame `source_first + k`. A segment that overlaps frames already
    finished (a resume) is trimmed; one that leaves a hole is an engine bug and raises.
    """

    def __init__(
        self,
        target: OutputTarget,
        workspace: Workspace,
        transform: ColourTransform,
        source_first: int,
        size: tuple[int, int],
        fps: Fraction,
        on_segment: SegmentCallback | None = None,
    ) -> None:
        self.target = target
        self.on_segment = on_segment
        self.workspace = workspace
        self.transform = transform
        self.source_first = source_first
        self.size = size
        self.fps = fps
        self.clipped_frames = 0

    @property
    def written(self) -> int:
        return self.workspace.frames_done

    def write_segment(self, first: int, frames: np.ndarray) -> None:
        if frames.ndim != 4 or frames.shape[1:] != (*self.size, 3):
            raise MediaError(
                f"{self.target.path}: engine produced frames shaped {frames.shape[1:]}, expected {(*self.size, 3)}"
            )
        skip = self.written - first
        if skip > 0:
            frames, first = frames[skip:], self.written
        if not len(frames):
            return
        if first != self.written:
            raise MediaError(f"{self.target.path}: engine skipped frames {self.written}-{first - 1}")
        try:
            files = self._stage(first, map(self._file_values, frames))
        except OSError as exc:
            last = self.source_first + first + len(frames) - 1
            raise _write_error(self.target.path, f"frames {self.source_first + first}-{last}", exc) from None
        self.workspace.add_segment(first, len(frames), files)
        if self.on_segment is not None:
            first_source = self.source_first + first
            staged = [str(self.workspace.staged(name)) for name in files]
            self.on_segment(first_source, first_source + len(frames) - 1, staged)

    def _file_values(self, frame: np.ndarray) -> np.ndarray:
        """One frame mapped back to the file's encoding; counts frames an integer format will clip."""
        values = self.transform.from_working(frame)
        if self.target.image is None or self.target.image.codec != "exr":
            self.clipped_frames += bool(values.min() < 0 or values.max() > 1)
        return values

    def _stage(self, first: int, values: Iterator[np.ndarray]) -> list[str]:
        if self.target.pattern is not None:
            assert self.target.image is not None
            files = []
            for k, rgb in enumerate(values):
                name = os.path.basename(self.target.pattern.path(self.source_first + first + k))
                temporary = self.workspace.staged(name + ".tmp")
                encode_image(rgb, self.target.image, str(temporary))
                os.replace(temporary, self.workspace.staged(name))
                files.append(name)
            return files
        assert self.target.movie is not None
        name = f"segment_{first:09d}.mov"
        temporary = self.workspace.staged(f"segment_{first:09d}.tmp.mov")
        encode_segment(str(temporary), values, self.size, self.target.movie, self.fps, self.target.ten_bit)
        os.replace(temporary, self.workspace.staged(name))
        return [name]


def publish(
    target: OutputTarget,
    workspace: Workspace,
    fps: Fraction,
    timecode: str | None,
    audio_from: tuple[MovieIndex, int, int] | None,
) -> list[str]:
    """Present the finished work under the final names; returns the paths written."""
    if target.pattern is not None:
        outputs = []
        for segment in workspace.segments:
            for name in segment["files"]:
                final = os.path.join(target.pattern.directory, name)
                try:
                    publish_file(str(workspace.staged(name)), final)
                except OSError as exc:
                    raise _write_error(final, "the frame", exc) from None
                outputs.append(final)
        return outputs
    directory, name = os.path.split(target.path)
    stem, ext = os.path.splitext(name)
    partial = os.path.join(directory, f".{stem}.partial{ext}")
    segments = [str(workspace.staged(f)) for s in workspace.segments for f in s["files"]]
    try:
        mux_segments(partial, target.container, segments, fps, timecode, audio_from)
        os.replace(partial, target.path)
    except OSError as exc:
        raise _write_error(target.path, "the movie", exc) from None
    except av.FFmpegError as exc:
        raise MediaError(f"{target.path}: cannot write the movie ({exc})") from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return [target.path]
