"""What a Nuke Read means in media frames, and how to show restored media at the same comp frames.

Pure arithmetic over knob values (no `nuke` import), so every rule here is tested directly.
The Read semantics are facts about Nuke gathered in one place; if one proves wrong it is a
one-line change here:

- A sequence Read's `first`/`last` are file numbers; a movie Read numbers its frames from
  MOVIE_FIRST_FRAME, while the daemon numbers movie frames from 0.
- `frame_mode` "offset" shows file frame f at comp frame f + frame; "start at" shows `first`
  at comp frame `frame`; "expression" reads file frame `frame`(expr) at each comp frame; only the
  forms "", "frame", "frame+N" and "frame-N" are a fixed shift and can be restored.
- A `colorspace` of "default (X)" means X for that file type; restored media of another file
  type would read a different default, so the output Read is given X explicitly.

Frame ranges are `vividvr_client.timecode.FrameRange` (a pure module, importable in
Nuke's Python): the one frame-range type of the project.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from vividvr_client.otio_json import clip_json, movie_reference, sequence_reference, time_range
from vividvr_client.timecode import FrameRange

MOVIE_FIRST_FRAME = 1
FRAME_MODE_OFFSET = "offset"
FRAME_MODE_START_AT = "start at"
FRAME_MODE_EXPRESSION = "expression"
RANGE_INPUT = "input"  # restore what the Read shows
RANGE_PROJECT = "project"  # restore the project's frame range (root first_frame..last_frame)

_SHIFT_EXPRESSION = re.compile(r"^\s*(?:frame\s*(?:([+-])\s*(\d+))?)?\s*$")
_SEQUENCE_FIELD = re.compile(r"%0?\d*d|#+")
_DEFAULT_COLORSPACE = re.compile(r"^default\s*\((.+)\)\s*$")
# OutputSpec formats: the extension of the file the daemon writes for each
FORMAT_EXTENSIONS = {
    "exr": ".####.exr",
    "tiff16": ".####.tif",
    "png16": ".####.png",
    "prores": ".mov",
    "prores4444": ".mov",
    "dnxhr": ".mov",
    "h264": ".mp4",
    "h265": ".mp4",
}


class PlateError(ValueError):
    """The node's input cannot be restored as it stands; the message says what to change."""


@dataclass(frozen=True)
class ReadKnobs:
    """The knob values of a Read node that decide which media frames appear at which comp frames:
    read from the plate's Read, or set on the node's internal Read of the restored media."""

    file: str
    first: int
    last: int
    frame_mode: str
    frame: str
    colorspace: str


@dataclass(frozen=True)
class Plate:
    """A Read in media terms: `media` frames `frames` appear at comp frame media frame + `comp_shift`."""

    media: str  # a movie, or a sequence pattern (%04d or ####)
    is_movie: bool
    frames: FrameRange  # media frames the Read shows
    comp_shift: int
    colorspace: str  # explicit (never "default (...)")


def is_sequence(path: str) -> bool:
    return bool(_SEQUENCE_FIELD.search(os.path.basename(path)))


def explicit_colorspace(value: str) -> str:
    """ "default (Gamma2.2)" -> "Gamma2.2": the space the default stood for with the source's file type."""
    match = _DEFAULT_COLORSPACE.match(value)
    return match.group(1).strip() if match else value


def _file_to_comp(knobs: ReadKnobs, node: str) -> int:
    """comp frame - file frame, from the Read's frame mode."""
    value = knobs.frame.strip()
    try:
        if knobs.frame_mode == FRAME_MODE_OFFSET:
            return int(float(value or 0))
        if knobs.frame_mode == FRAME_MODE_START_AT:
            return int(float(value or knobs.first)) - knobs.first
    except ValueError:
        raise PlateError(f"{node}: frame {value!r} is not a whole frame number") from None
    if knobs.frame_mode == FRAME_MODE_EXPRESSION:
        match = _SHIFT_EXPRESSION.match(value)
        if not match:
            raise PlateError(
                f"{node}: frame expression {value!r} is not a fixed shift; use frame mode 'offset' or 'start at'"
            )
        sign, amount = match.groups()
        read_shift = int(amount or 0) * (-1 if sign == "-" else 1)  # reads file frame comp + read_shift
        return -read_shift
    raise PlateError(f"{node}: unknown frame mode {knobs.frame_mode!r}")


def plate_from_read(knobs: ReadKnobs, node: str = "Read") -> Plate:
    """The media and frame mapping of a Read's knob values; PlateError naming the node when it cannot be used."""
    if not knobs.file.strip():
        raise PlateError(f"{node}: no file is set")
    if "[" in knobs.file:
        raise PlateError(f"{node}: file {knobs.file!r} contains an expression; give the media path itself")
    if knobs.last < knobs.first:
        raise PlateError(f"{node}: last frame {knobs.last} is before first frame {knobs.first}")
    movie = not is_sequence(knobs.file)
    to_media = -MOVIE_FIRST_FRAME if movie else 0
    if knobs.first + to_media < 0:
        raise PlateError(f"{node}: frame {knobs.first} is before the media's first frame")
    return Plate(
        media=knobs.file,
        is_movie=movie,
        frames=FrameRange(knobs.first + to_media, knobs.last + to_media),
        comp_shift=_file_to_comp(knobs, node) - to_media,
        colorspace=explicit_colorspace(knobs.colorspace),
    )


def hash_pattern(path: str) -> str:
    """`plate.%04d.exr` -> `plate.####.exr` (the form OTIO's sequence reference is built from)."""
    directory, name = os.path.split(path)
    return os.path.join(directory, _SEQUENCE_FIELD.sub(lambda m: _hashes(m.group(0)), name))


def _hashes(field: str) -> str:
    if field.startswith("#"):
        return field
    digits = field[1:-1].lstrip("0")
    return "#" * int(digits or 1)


def otio_clip(plate: Plate, frames: FrameRange, fps: float) -> str:
    """The plate as an OTIO clip on the project's clock: `frames` (media numbers) of the Read's media.

    A movie's available range starts at its first frame (index 0); a sequence's at the Read's
    first file number, which is also the reference's start frame.
    """
    name = os.path.basename(plate.media)
    if plate.is_movie:
        reference = movie_reference(name, plate.media, time_range(0, plate.frames.last + 1, fps))
    else:
        available = time_range(plate.frames.first, plate.frames.count, fps)
        reference = sequence_reference(name, hash_pattern(plate.media), plate.frames.first, fps, available)
    return clip_json(
        name, reference, time_range(frames.first, frames.count, fps), metadata={"vividvr": {"host": "nuke"}}
    )


def restore_frames(plate: Plate, mode: str, project: FrameRange, node: str = "VividVR") -> FrameRange:
    """Media frames to restore (before handles): the Read's own, or the project range within them."""
    if mode == RANGE_INPUT:
        return plate.frames
    if mode != RANGE_PROJECT:
        raise PlateError(f"{node}: unknown frame range {mode!r}; use {RANGE_INPUT!r} or {RANGE_PROJECT!r}")
    first = max(plate.frames.first, project.first - plate.comp_shift)
    last = min(plate.frames.last, project.last - plate.comp_shift)
    if last < first:
        raise PlateError(
            f"{node}: the project range {project} does not overlap the input's frames"
            f" {plate.frames.first + plate.comp_shift}-{plate.frames.last + plate.comp_shift}"
        )
    return FrameRange(first, last)


def name_template(output_format: str) -> str:
    """Output file name for the daemon: the clip name, the job id (so reruns never collide), the extension."""
    try:
        return "{name}_vividvr_{job}" + FORMAT_EXTENSIONS[output_format]
    except KeyError:
        raise PlateError(
            f"unknown output format {output_format!r}; choose one of {', '.join(FORMAT_EXTENSIONS)}"
        ) from None


def restored_read(output: str, restored: FrameRange, comp_shift: int, colorspace: str) -> ReadKnobs:
    """The Read that shows restored media frames `restored` (handles included) at the plate's comp frames.

    Restored sequences are numbered with the source's media frame numbers; a restored movie
    starts at its first restored frame.
    """
    if is_sequence(output):
        first, last, file_to_media = restored.first, restored.last, 0
    else:
        first = MOVIE_FIRST_FRAME
        last = MOVIE_FIRST_FRAME + restored.count - 1
        file_to_media = restored.first - MOVIE_FIRST_FRAME
    return ReadKnobs(
        file=output,
        first=first,
        last=last,
        frame_mode=FRAME_MODE_OFFSET,
        frame=str(file_to_media + comp_shift),
        colorspace=colorspace,
    )
