"""Read -> engine -> write: the one orchestration the CLI and the daemon both drive.

Frame accuracy: source frame numbers are the file numbers of an image sequence, or the 0-based
frame index within a movie file. Output sequence files carry the source frame numbers; output
movies carry the source start timecode offset by the first restored frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vividvr_engine.engine import CancelToken, ProgressCallback, RestorationEngine
from vividvr_engine.media.timecode import FrameRange


@dataclass(frozen=True)
class RestoreJobSpec:
    input: str  # movie path or image-sequence pattern
    output: str  # movie path or sequence pattern (name.####.exr / name.%04d.exr)
    frames: FrameRange | None  # inclusive source frame numbers; None = whole media
    format: str | None = None  # exr|prores|prores4444|dnxhr|h264|h265|tiff16|png16; None = from output
    overwrite: bool = False


@dataclass(frozen=True)
class MediaInfo:
    path: str
    kind: str  # "movie" | "sequence"
    width: int
    height: int
    fps: Fraction
    first_frame: int  # source frame numbers (movie: 0-based index)
    last_frame: int
    start_timecode: str | None
    has_audio: bool


@dataclass(frozen=True)
class RestoreResult:
    outputs: list[str]
    frames: FrameRange
    width: int
    height: int
    start_timecode: str | None
    seconds: float


def probe(input: str) -> MediaInfo:
    raise NotImplementedError("in progress (issue 3)")


def restore_clip(
    spec: RestoreJobSpec,
    engine: RestorationEngine,
    progress: ProgressCallback | None = None,
    *,
    cancel: CancelToken | None = None,
    state_dir: Path | None = None,
) -> RestoreResult:
    raise NotImplementedError("in progress (issue 3)")
