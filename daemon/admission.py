"""From a RestoreRequest to a job the worker can run, or a refusal with the right gRPC status.

Everything that can be checked before the job is queued is checked here (paths, media, range,
settings, memory), so an overnight queue does not fail at 3 a.m. on a typo. The result is a
plain JSON-able dict, stored with the job and read back after a restart.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import grpc

from vividvr_client.timecode import FrameRange, parse_timecode
from vividvr_client.v1 import daemon_pb2 as pb
from vividvr_daemon import memory, otio_clip
from vividvr_daemon.config import PLACEMENT_ONE, PLACEMENT_SPLIT, DaemonConfig
from vividvr_daemon.paths import PathRefused, check_sequence_frames, resolve_media, resolve_output
from vividvr_engine.captioning import require_captioner
from vividvr_engine.engines import ENGINES
from vividvr_engine.errors import CheckpointError, MediaError, SettingsError
from vividvr_engine.media.images import IMAGE_EXTENSIONS
from vividvr_engine.media.sequence import is_sequence_path, parse_pattern
from vividvr_engine.media.source import resolve_range
from vividvr_engine.media.target import CONTAINERS, check_output, plan_output
from vividvr_engine.restore_job import MediaInfo
from vividvr_engine.settings import RestoreSettings

DEFAULT_ENGINE = "vividvr"
DEFAULT_NAME_TEMPLATE = "{name}_vividvr.mov"
MEDIA_EXTENSIONS = frozenset((*IMAGE_EXTENSIONS, *CONTAINERS, ".avi", ".mxf", ".mpg", ".flv", ".webm"))


@dataclass(frozen=True)
class RequestError(Exception):
    """A request the daemon refuses; `code` is the gRPC status it answers with."""

    code: grpc.StatusCode
    message: str

    def __str__(self) -> str:
        return self.message


def settings_from_proto(msg: pb.EngineSettings) -> tuple[str, RestoreSettings]:
    """(engine name, settings); the proto's fields carry RestoreSettings' names one for one."""
    engine = msg.engine or DEFAULT_ENGINE
    if engine not in ENGINES:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"unknown engine {engine!r}; use {', '.join(ENGINES)}")
    values = {f.name: getattr(msg, f.name) for f in fields(RestoreSettings) if msg.HasField(f.name)}
    try:
        return engine, RestoreSettings(**values)
    except SettingsError as exc:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None


RESOLVE_FRAME_SPAN = re.compile(r"[._-]?\[\d+-\d+\]$")  # Resolve names sequences "plate.[1001-1100].exr"


def clip_name(path: str) -> str:
    """Clip name for output templates: the file name without frame field and media extension."""
    if is_sequence_path(path) and ("#" in path or "%" in path):
        return parse_pattern(path).prefix.rstrip("._-") or "sequence"
    stem, extension = os.path.splitext(os.path.basename(path))
    if extension.lower() not in MEDIA_EXTENSIONS:
        return os.path.basename(path)
    return RESOLVE_FRAME_SPAN.sub("", stem) or stem


def _media(raw: str, roots: Sequence[Path], probe: Callable[[str], MediaInfo]) -> MediaInfo:
    try:
        path = resolve_media(raw, roots)
    except PathRefused as exc:
        raise RequestError(grpc.StatusCode.PERMISSION_DENIED, str(exc)) from None
    except FileNotFoundError as exc:
        raise RequestError(grpc.StatusCode.NOT_FOUND, str(exc)) from None
    except MediaError as exc:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
    try:
        return probe(path)
    except MediaError as exc:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"cannot read media {raw}: {exc}") from None


def _clip_range(source: otio_clip.ClipSource, info: MediaInfo) -> tuple[FrameRange, float, float, int]:
    """(requested media frames, available start, media rate, frame number of available start)."""
    media_rate = source.media_rate or float(info.fps)
    if source.available_start is not None:
        available_start = source.available_start
    elif info.start_timecode:
        available_start = float(parse_timecode(info.start_timecode, info.fps))
    else:
        available_start = 0.0
    base = source.sequence_start if source.sequence_start is not None else info.first_frame
    try:
        frames = otio_clip.media_frames(source.source_start, source.source_rate, source.source_duration,
                                        available_start, media_rate, base)
    except otio_clip.OtioError as exc:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
    return frames, available_start, media_rate, base


def plan_job(
    request: pb.RestoreRequest,
    job_id: str,
    config: DaemonConfig,
    probe: Callable[[str], MediaInfo],
    budget: Callable[[bool], tuple[str, int]],
) -> tuple[dict, list[str], MemoryCheck]:
    """(plan, warnings, memory check) for a request, or RequestError.

    `budget(split)` is (device, bytes available there) for a job on one device or split over
    several. A job that does not fit is refused by the caller, so a dry run can report it.
    """
    engine, settings = settings_from_proto(request.settings)
    split = placement(request.placement, config) == PLACEMENT_SPLIT
    src = request.source
    kind = src.WhichOneof("kind")
    if kind is None:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "the request names no source (otio_clip_json, media_path)")
    if kind == "otio_clip_json":
        try:
            clip = otio_clip.parse_clip(src.otio_clip_json)
        except otio_clip.OtioError as exc:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        info = _media(clip.media_path, config.media_roots, probe)
        wanted, available_start, media_rate, base = _clip_range(clip, info)
        name = clip_name(clip.name)
    else:
        info = _media(src.media_path, config.media_roots, probe)
        try:
            wanted = FrameRange.parse(src.frames) if src.frames else FrameRange(info.first_frame, info.last_frame)
        except ValueError as exc:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        available_start = float(parse_timecode(info.start_timecode, info.fps)) if info.start_timecode else 0.0
        media_rate, base, name = float(info.fps), info.first_frame, clip_name(src.media_path)
    if wanted.first < info.first_frame or wanted.last > info.last_frame:
        raise RequestError(
            grpc.StatusCode.OUT_OF_RANGE,
            f"frames {wanted} are outside {info.path}, which has frames {info.first_frame}-{info.last_frame}",
        )
    warnings = []
    if split and not spreads(engine):
        split = False
        warnings.append(f"the {engine} engine runs a job on one device; this one is not split")
    first = max(info.first_frame, wanted.first - src.handle_frames_before)
    last = min(info.last_frame, wanted.last + src.handle_frames_after)
    if (wanted.first - first, last - wanted.last) != (src.handle_frames_before, src.handle_frames_after):
        warnings.append(
            f"handles shortened to {wanted.first - first} before and {last - wanted.last} after: the media has"
            f" frames {info.first_frame}-{info.last_frame}"
        )
    if info.kind == "sequence":
        try:
            check_sequence_frames(info.path, first, last, config.media_roots)
            resolve_range(info, FrameRange(first, last))  # refuses gaps, handles included
        except PathRefused as exc:
            raise RequestError(grpc.StatusCode.PERMISSION_DENIED, str(exc)) from None
        except MediaError as exc:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
    try:
        height, width = settings.output_size(info.height, info.width)
    except SettingsError as exc:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"{info.path}: {exc}") from None
    output = _output(request.output, name, job_id, config, first)
    try:  # what restore_clip would refuse later: codec size limits, format/extension mismatches
        target = plan_output(output, request.output.format or None, info.depth, request.output.ten_bit)
        check_output(target, first, last, width, height, request.output.overwrite)
    except (MediaError, SettingsError) as exc:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
    if os.path.realpath(output) == os.path.realpath(info.path):
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"output {output} would overwrite the source media")
    _check_captioner(engine, settings, config)  # after the request's own mistakes, which the artist can fix
    device, available = budget(split)
    model = _model_size(config) if engine == "vividvr" else None
    need = memory.estimate(engine, settings, info.height, info.width, last - first + 1, device, model)
    check = MemoryCheck(need, device, available, memory.refusal(need, available, device, settings))
    plan = {
        "name": name,
        "input": info.path,
        "kind": info.kind,
        "first": first,
        "last": last,
        "wanted_first": wanted.first,
        "wanted_last": wanted.last,
        "fps": str(info.fps),
        "start_timecode": info.start_timecode,
        "available_start": available_start,
        "media_rate": media_rate,
        "base_frame": base,
        "output": output,
        "format": request.output.format or None,
        "overwrite": request.output.overwrite,
        "ten_bit": request.output.ten_bit,
        "engine": engine,
        "settings": settings.to_dict(),
        "out_width": width,
        "out_height": height,
        "split": split,
    }
    return plan, warnings, check


PLACEMENTS = {pb.PLACEMENT_ONE_DEVICE: PLACEMENT_ONE, pb.PLACEMENT_ALL_IDLE_DEVICES: PLACEMENT_SPLIT}


def placement(requested: int, config: DaemonConfig) -> str:
    """The request's placement, or the daemon's default when the request leaves it unspecified."""
    if requested == pb.PLACEMENT_UNSPECIFIED:
        return config.placement
    if requested not in PLACEMENTS:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"unknown placement {requested}")
    return PLACEMENTS[requested]


@dataclass(frozen=True)
class MemoryCheck:
    """A job's estimate against the budget of the device it was checked on."""

    need: memory.Estimate
    device: str
    available: int
    refusal: str | None  # None when it fits

    def proto(self, warnings: Sequence[str]) -> pb.JobEstimate:
        return pb.JobEstimate(
            bytes_per_device=self.need.bytes,
            device=self.device,
            available_bytes=self.available,
            fits=self.refusal is None,
            advice=self.refusal or "",
            terms=[pb.EstimateTerm(name=name, bytes=size) for name, size in self.need.terms],
            warnings=list(warnings),
        )


def spreads(engine: str) -> bool:
    """Whether an engine can spread one job over several devices (its `restore` takes `devices`)."""
    module_name, class_name = ENGINES[engine].split(":")
    restore = getattr(importlib.import_module(module_name), class_name).restore
    return "devices" in inspect.signature(restore).parameters


def _model_size(config: DaemonConfig) -> memory.ModelSize:
    """Sizes of the configured Vivid-VR checkpoints; a folder the estimate cannot read is refused now."""
    if config.checkpoints is not None:
        root = config.checkpoints
    else:
        from vividvr_engine.pipeline import default_checkpoint_root

        root = default_checkpoint_root()
    try:
        return memory.read_model(root)
    except memory.CheckpointUnreadable as exc:
        raise RequestError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"the daemon's vividvr checkpoints cannot be read ({exc}); set checkpoints in the daemon config"
            " (see README: Checkpoints) or use the preview engine",
        ) from None


def _check_captioner(engine: str, settings: RestoreSettings, config: DaemonConfig) -> None:
    """Refused now, not when the job starts; FAILED_PRECONDITION: installing the captioner fixes it."""
    try:
        require_captioner(engine, settings, config.checkpoints)
    except CheckpointError as exc:
        raise RequestError(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from None


def _output(spec: pb.OutputSpec, name: str, job_id: str, config: DaemonConfig, first: int) -> str:
    template = spec.name_template or DEFAULT_NAME_TEMPLATE
    try:
        file_name = template.format(name=name, job=job_id)
    except (KeyError, IndexError, ValueError) as exc:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"output name_template {template!r}: unknown token {exc}; use {{name}} and {{job}}",
        ) from None
    if not spec.directory:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "the request names no output directory")
    try:
        output = resolve_output(spec.directory, file_name, config.output_roots)
    except PathRefused as exc:
        raise RequestError(grpc.StatusCode.PERMISSION_DENIED, str(exc)) from None
    sequence = is_sequence_path(output) and ("#" in file_name or "%" in file_name)
    existing = parse_pattern(output).path(first) if sequence else output
    if os.path.exists(existing) and not spec.overwrite:
        raise RequestError(
            grpc.StatusCode.ALREADY_EXISTS, f"output {existing} already exists; set overwrite to replace it"
        )
    return output
