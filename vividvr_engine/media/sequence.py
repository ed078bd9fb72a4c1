"""Image sequences: frame-number patterns, directory scans with gap detection, streamed reading.

Patterns: ``name.%04d.exr`` (printf), ``name.####.exr`` (one ``#`` per digit) or a concrete
file ``name.1001.exr`` (the last run of digits is the frame number, its length the padding).
Frame numbers wider than the padding are accepted unpadded, as every host writes them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vividvr_engine.errors import MediaError
from vividvr_engine.media.images import IMAGE_EXTENSIONS, read_image

_PRINTF = re.compile(r"%(0?)(\d*)d")
_HASHES = re.compile(r"#+")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class SequencePattern:
    """`directory/prefix` + frame number padded to `padding` + `suffix`."""

    directory: str
    prefix: str
    padding: int
    suffix: str

    def path(self, frame: int) -> str:
        if frame < 0:
            raise MediaError(f"{self.display()}: negative frame number {frame}")
        return os.path.join(self.directory, f"{self.prefix}{frame:0{self.padding}d}{self.suffix}")

    def display(self) -> str:
        return os.path.join(self.directory, f"{self.prefix}{'#' * self.padding}{self.suffix}")

    def frame_of(self, name: str) -> int | None:
        """The frame number of a file name in this sequence, or None when it is not one."""
        if not (name.startswith(self.prefix) and name.endswith(self.suffix)):
            return None
        digits = name[len(self.prefix) : len(name) - len(self.suffix)]
        if not digits.isdigit() or not digits.isascii():
            return None
        if len(digits) != self.padding and (len(digits) < self.padding or digits[0] == "0"):
            return None
        return int(digits)

    def scan(self) -> list[int]:
        """Sorted frame numbers present on disk."""
        try:
            names = os.listdir(self.directory or ".")
        except OSError as exc:
            raise MediaError(f"{self.display()}: cannot list {self.directory or '.'} ({exc.strerror})") from None
        return sorted(f for f in map(self.frame_of, names) if f is not None)


def is_sequence_path(path: str) -> bool:
    """True for a pattern or a numbered image file (anything an image extension ends)."""
    return bool(_PRINTF.search(path) or _HASHES.search(Path(path).name)) or (
        path.lower().endswith(IMAGE_EXTENSIONS) and bool(_DIGITS.search(Path(path).name))
    )


def parse_pattern(path: str) -> SequencePattern:
    """Split a pattern or a numbered file name into its parts."""
    directory, name = os.path.split(path)
    for regex in (_PRINTF, _HASHES):
        matches = list(regex.finditer(name))
        if len(matches) > 1:
            raise MediaError(f"{path}: more than one frame-number field in the pattern")
        if matches:
            match = matches[0]
            width = len(match.group(0)) if regex is _HASHES else int(match.group(2) or 1)
            return SequencePattern(directory, name[: match.start()], width, name[match.end() :])
    stem_digits = list(_DIGITS.finditer(name))
    if not stem_digits:
        raise MediaError(f"{path}: no frame number in the name; use name.####.exr or name.%04d.exr")
    match = stem_digits[-1]
    return SequencePattern(directory, name[: match.start()], len(match.group(0)), name[match.end() :])


def missing_frames(frames: list[int], first: int, last: int) -> list[int]:
    """Frame numbers in `first..last` absent from sorted `frames`."""
    present = set(frames)
    return [f for f in range(first, last + 1) if f not in present]


def describe_frames(frames: list[int], limit: int = 8) -> str:
    """``1005-1007, 1010`` style list of frame numbers, elided after `limit` runs."""
    runs: list[tuple[int, int]] = []
    for f in frames:
        if runs and f == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], f)
        else:
            runs.append((f, f))
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:limit])
    return text + (f", ... ({len(frames)} frames)" if len(runs) > limit else "")


class SequenceReader:
    """Streams frames of one sequence; frame numbers are the files' own."""

    def __init__(self, pattern: SequencePattern) -> None:
        self.pattern = pattern

    def frames(self, first: int, last: int) -> Iterator[np.ndarray]:
        """Float32 RGB of files `first`..`last`, one at a time, all the same size."""
        shape = None
        for number in range(first, last + 1):
            path = self.pattern.path(number)
            if not os.path.exists(path):
                raise MediaError(f"{path}: frame {number} is missing from the sequence")
            rgb = read_image(path)
            if shape is None:
                shape = rgb.shape
            elif rgb.shape != shape:
                raise MediaError(
                    f"{path}: frame is {rgb.shape[1]}x{rgb.shape[0]}, the sequence is {shape[1]}x{shape[0]}"
                )
            yield rgb
