"""The contract every restoration engine meets, so media, daemon and plugins need not care which.

Frames travel as float32 numpy arrays shaped (height, width, 3), RGB, nominally in [0, 1]
(display-referred; the media layer applies colour transforms on either side). A clip is read
as a stream, and restored frames leave through a sink one finished segment at a time, so no
engine ever holds the whole clip in pixel memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from vividvr_engine.errors import Cancelled
from vividvr_engine.settings import RestoreSettings


class ClipSource(Protocol):
    """A clip to restore: its size, rate and a way to stream its frames from any index."""

    num_frames: int
    height: int
    width: int
    fps: Fraction

    def frames(self, start: int = 0) -> Iterator[np.ndarray]:
        """Frames `start`, `start + 1`, ... (clip indices, 0-based) as float32 (H, W, 3)."""
        ...


class FrameSink(Protocol):
    """Receives restored frames in order, one finished segment at a time."""

    def write_segment(self, first: int, frames: np.ndarray) -> None:
        """`frames` (T, H, W, 3) float32 are clip frames `first` .. `first + T - 1`."""
        ...


@dataclass(frozen=True)
class Progress:
    """Where a restoration is; callers turn it into bars, ETAs and gRPC events."""

    phase: str  # "encode", "caption", "denoise", "decode"
    window: int = 0  # 0-based
    windows: int = 1
    step: int = 0  # steps finished
    steps: int = 0
    tile: int = 0
    tiles: int = 1
    frames_done: int = 0  # frames handed to the sink
    frames_total: int = 0

    @property
    def fraction(self) -> float:
        """Rough overall fraction done, weighting denoising as the bulk of the work."""
        if self.phase == "decode":
            return 0.9 + 0.1 * self.frames_done / max(1, self.frames_total)
        if self.phase == "denoise":
            per_step = 1 / max(1, self.steps)
            within = (self.window + (self.tile + 1) / max(1, self.tiles)) / max(1, self.windows)
            return 0.05 + 0.85 * per_step * (self.step + within)
        return 0.05 * (self.window + 1) / max(1, self.windows)


ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """Set from any thread; engines check it between units of work and raise `Cancelled`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


class RestorationEngine(Protocol):
    """What the media layer, the CLI and the daemon drive.

    An engine holds only what is expensive to load (models on a device, in a dtype, with an
    offload mode); everything that may change from job to job arrives as `RestoreSettings` with
    each call, so one loaded engine serves jobs with any seed, caption, steps or colour fix.
    """

    name: str

    def output_size(self, height: int, width: int, settings: RestoreSettings) -> tuple[int, int]: ...

    def restore(
        self,
        clip: ClipSource,
        sink: FrameSink,
        settings: RestoreSettings,
        progress: ProgressCallback | None = None,
        *,
        state_dir: Path | None = None,
        first_unwritten_frame: int = 0,
        cancel: CancelToken | None = None,
    ) -> None:
        """Restore `clip` into `sink` with this job's `settings`.

        `state_dir`, when given, holds resumable state: an engine saves its progress there and,
        if it finds state from an earlier run of the same clip and settings, continues from it;
        the result equals an uninterrupted run. Segments ending before `first_unwritten_frame`
        are already on disk and are not emitted again.
        """
        ...
