"""Read -> engine -> write: the one orchestration the CLI and the daemon both drive.

Frame accuracy, exactly:
- Source frame numbers are the file numbers of an image sequence, or the 0-based frame index
  (presentation order) within a movie file. `RestoreJobSpec.frames` is inclusive.
- The engine sees clip index k = source frame `frames.first + k`.
- Output sequence files are numbered with the source frame numbers, whatever the input kind.
- Output movies start at the first restored frame and carry the source start timecode offset by
  it (drop-frame style kept); with no source timecode they carry none.
- Audio is copied (whole packets within the restored span) when both input and output are movies.
- Variable-frame-rate movies are refused at probe with a message saying how to conform them:
  conforming here would invent or drop frames and break the frame count (see docs/media.md).

Atomicity and resume: finished segments are staged in a work folder (`state_dir/media` when a
`state_dir` is given, else a hidden temporary folder beside the output, removed afterwards) and
only presented under the final names once every frame is there. A later run of the same spec,
engine and settings with the same `state_dir` keeps the staged segments, tells the engine
`first_unwritten_frame`, and produces output identical to an uninterrupted run. Once the output
is published, `state_dir/published.json` records it, so a run interrupted between publishing
and reporting success finds its finished output instead of refusing to overwrite it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vividvr_client.timecode import FrameRange
from vividvr_engine.engine import CancelToken, ProgressCallback, RestorationEngine
from vividvr_engine.errors import MediaError
from vividvr_engine.media.colour import OcioColourSpaces, choose_transform
from vividvr_engine.media.source import MediaClip, MediaInfo, open_media, resolve_range
from vividvr_engine.media.target import (
    OutputTarget,
    SegmentCallback,
    SegmentSink,
    Workspace,
    check_output,
    plan_output,
    publish,
)
from vividvr_engine.settings import RestoreSettings

__all__ = ["MediaInfo", "RestoreJobSpec", "RestoreResult", "probe", "restore_clip"]

log = logging.getLogger("vividvr.media")


@dataclass(frozen=True)
class RestoreJobSpec:
    input: str  # movie path or image-sequence pattern
    output: str  # movie path or sequence pattern (name.####.exr / name.%04d.exr)
    frames: FrameRange | None  # inclusive source frame numbers; None = whole media
    format: str | None = None  # exr|prores|prores4444|dnxhr|h264|h265|tiff16|png16; None = from output
    overwrite: bool = False
    ten_bit: bool = False  # h264/h265 only: 10-bit 4:2:0 instead of 8-bit
    colour: OcioColourSpaces | None = None  # None: built-in default (identity, or the float shaper)


@dataclass(frozen=True)
class RestoreResult:
    outputs: list[str]
    frames: FrameRange  # source frames restored, with the source clock
    width: int
    height: int
    start_timecode: str | None  # timecode written to an output movie
    seconds: float


def probe(input: str) -> MediaInfo:
    """Size, rate, source frame numbers and timecode of a movie or image sequence."""
    return open_media(input).info


def _fingerprint(
    spec: RestoreJobSpec, engine: RestorationEngine, settings: RestoreSettings, target: OutputTarget, clip: MediaClip
) -> dict:
    """What must match for staged segments of an earlier run to be reused."""
    frames = clip.range
    return {
        "input": os.path.abspath(spec.input),
        "input_files": clip.file_stats(),  # the movie, or every frame file of the range
        "output": os.path.abspath(spec.output),
        "frames": [frames.first, frames.last],
        "format": target.format_name,
        "ten_bit": target.ten_bit,
        "colour": repr(spec.colour),
        "engine": engine.name,
        "settings": settings.to_dict(),
    }


PUBLISHED = "published.json"


def _published_outputs(state_dir: Path | None, fingerprint: dict) -> list[str] | None:
    """The outputs an earlier run of this very job published, if they are all still there."""
    if state_dir is None or not (Path(state_dir) / PUBLISHED).is_file():
        return None
    try:
        record = json.loads((Path(state_dir) / PUBLISHED).read_text())
    except ValueError:
        return None
    if record.get("fingerprint") != fingerprint or not all(os.path.exists(o) for o in record["outputs"]):
        return None
    return record["outputs"]


def _record_published(state_dir: Path | None, fingerprint: dict, outputs: list[str]) -> None:
    if state_dir is None:
        return
    path = Path(state_dir) / PUBLISHED
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(PUBLISHED + ".tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint, "outputs": outputs}))
    os.replace(tmp, path)


def _work_folder(spec: RestoreJobSpec, state_dir: Path | None) -> tuple[Path, bool]:
    """(folder, temporary): the job's staging folder, and whether it is ours to delete at the end.

    Creates the output folder too, so that publishing is a rename within it.
    """
    directory = os.path.dirname(os.path.abspath(spec.output))
    os.makedirs(directory, exist_ok=True)
    if state_dir is not None:
        return Path(state_dir) / "media", False
    key = hashlib.sha1(spec.output.encode()).hexdigest()[:8]
    return Path(tempfile.mkdtemp(prefix=f".vividvr-{key}-", dir=directory)), True


def restore_clip(
    spec: RestoreJobSpec,
    engine: RestorationEngine,
    settings: RestoreSettings,
    progress: ProgressCallback | None = None,
    *,
    cancel: CancelToken | None = None,
    state_dir: Path | None = None,
    on_segment: SegmentCallback | None = None,
    devices: Sequence[str] | None = None,
) -> RestoreResult:
    """Restore `spec.frames` of `spec.input` with `engine` and this job's `settings` into `spec.output`.

    `on_segment(first, last, staged_files)` is called as each segment is finished: its source
    frames and its files in the staging folder (final names appear only when all are done).
    Raises MediaError / SettingsError (one line, naming the file) for bad input or output,
    Cancelled when `cancel` fires (finished segments stay staged in `state_dir`), and whatever
    the engine raises (e.g. CheckpointError). `devices` spreads the job over several devices
    (engines that can, i.e. vividvr; see `VividVREngine.restore`).
    """
    started = time.monotonic()
    media = open_media(spec.input)
    info = media.info
    frames = resolve_range(info, spec.frames)
    target = plan_output(spec.output, spec.format, info.depth, spec.ten_bit)
    height, width = engine.output_size(info.height, info.width, settings)
    transform = choose_transform(info.is_float, spec.colour)
    clip = MediaClip(media, frames, transform)
    fingerprint = _fingerprint(spec, engine, settings, target, clip)
    timecode = frames.timecode if target.kind == "movie" else None
    published = _published_outputs(state_dir, fingerprint)
    if published is not None:
        return RestoreResult(published, frames, width, height, timecode, time.monotonic() - started)
    check_output(target, frames.first, frames.last, width, height, spec.overwrite)
    folder, temporary = _work_folder(spec, state_dir)
    try:
        workspace = Workspace(folder, fingerprint)
        sink = SegmentSink(target, workspace, transform, frames.first, (height, width), info.fps, on_segment)
        engine_state = None if state_dir is None else Path(state_dir) / "engine"
        spread = {"devices": devices} if devices else {}
        engine.restore(
            clip, sink, settings, progress, state_dir=engine_state, first_unwritten_frame=sink.written, cancel=cancel,
            **spread,
        )
        if sink.written != frames.count:
            raise MediaError(f"{spec.output}: engine produced {sink.written} of {frames.count} frames")
        if sink.clipped_frames:
            log.warning(
                "%s: %d frames had values outside [0, 1], clipped by the %s format",
                spec.output,
                sink.clipped_frames,
                target.format_name,
            )
        audio = (media.movie, frames.first, frames.count) if media.movie and info.has_audio else None
        outputs = publish(target, workspace, info.fps, timecode, audio if target.kind == "movie" else None)
        _record_published(state_dir, fingerprint, outputs)
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
    return RestoreResult(outputs, frames, width, height, timecode, time.monotonic() - started)
