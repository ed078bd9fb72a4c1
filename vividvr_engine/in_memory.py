"""A clip and a sink held in memory: for conformance vectors, tests and small scripts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


class ArrayClip:
    """A `ClipSource` over a (T, H, W, 3) float32 array."""

    def __init__(self, frames: np.ndarray, fps: Fraction | float = Fraction(24)) -> None:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames shaped (T, H, W, 3), got {frames.shape}")
        self.array = np.asarray(frames, dtype=np.float32)
        self.num_frames, self.height, self.width = frames.shape[:3]
        self.fps = Fraction(fps).limit_denominator(1001000)
        self.reads = 0  # frames handed out, so tests can prove a clip is streamed once

    def frames(self, start: int = 0) -> Iterator[np.ndarray]:
        for index in range(start, self.num_frames):
            self.reads += 1
            yield self.array[index]


@dataclass
class MemorySink:
    """A `FrameSink` that keeps every segment, checking they arrive in order without gaps."""

    segments: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def write_segment(self, first: int, frames: np.ndarray) -> None:
        expected = self.segments[-1][0] + len(self.segments[-1][1]) if self.segments else first
        if first != expected:
            raise AssertionError(f"segment starts at frame {first}, expected {expected}")
        self.segments.append((first, np.array(frames, dtype=np.float32)))

    @property
    def frames(self) -> np.ndarray:
        return np.concatenate([frames for _, frames in self.segments])
