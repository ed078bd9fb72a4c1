"""`vividvr restore`: restore a clip or a frame range of it into a movie or an image sequence.

Exit codes: 0 success, 2 bad input (unreadable media, bad range or settings, missing
checkpoints, output exists), 1 failure (anything else, including an interrupted run, whose
finished segments stay in --state-dir for a resume).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from vividvr_cli.daemon_command import restore_through_daemon
from vividvr_cli.restore_flags import add_restore_flags, setting_values
from vividvr_client.timecode import FrameRange, range_from_timecodes
from vividvr_engine.captioning import require_captioner
from vividvr_engine.engine import CancelToken, Progress
from vividvr_engine.engines import create_engine
from vividvr_engine.errors import Cancelled, CheckpointError, MediaError, SettingsError, VividVRError
from vividvr_engine.media.colour import OcioColourSpaces
from vividvr_engine.restore_job import MediaInfo, RestoreJobSpec, RestoreResult, probe, restore_clip
from vividvr_engine.settings import RestoreSettings

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

CHECKPOINT_HINT = (
    "hint: point --checkpoints at the folder holding CogVideoX1.5-5B/ and Vivid-VR/ (or set "
    "$VIVIDVR_CHECKPOINTS; see README 'Checkpoints'), or run with --engine preview for a fast non-AI resize"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="restore a movie or image sequence",
        description="Restore INPUT (a movie, or a sequence like name.####.exr) into --output, frame-accurately.",
    )
    add_restore_flags(parser)
    parser.set_defaults(run=run)


def settings_from_args(args: argparse.Namespace) -> RestoreSettings:
    return RestoreSettings(**setting_values(args))


def devices_from_args(
    args: argparse.Namespace, info: MediaInfo, spec: RestoreJobSpec, settings: RestoreSettings
) -> list[str] | None:
    """--devices checked before any model loads: devices exist, fit the job, the rendezvous port is free."""
    if args.batch_tiles is not None and (args.batch_tiles < 1 or args.engine != "vividvr"):
        raise SettingsError("--batch-tiles needs a positive count and the vividvr engine")
    if not args.devices:
        return None
    if args.engine != "vividvr":
        raise SettingsError(f"--devices spreads the vividvr engine only, not {args.engine}")
    if args.device:
        raise SettingsError("give --device or --devices, not both")
    from vividvr_engine import distributed
    from vividvr_engine.media.source import resolve_range
    from vividvr_engine.pipeline import ClipInfo, plan_step_batches

    devices = distributed.parse_devices(args.devices)
    clip = ClipInfo(resolve_range(info, spec.frames).count, info.height, info.width, info.fps)
    devices = distributed.usable_devices(devices, len(plan_step_batches(clip, settings, args.batch_tiles or 1)))
    if len(devices) > 1 and "MASTER_PORT" in os.environ and not distributed.launched_by_torchrun():
        distributed.check_port_free(int(os.environ["MASTER_PORT"]))
    return devices


def frames_from_args(args: argparse.Namespace, info: MediaInfo) -> FrameRange | None:
    """--frames, or --in/--out converted with the source's own rate and start timecode."""
    if args.frames is not None:
        try:
            return FrameRange.parse(args.frames)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
    if args.tc_in is None and args.tc_out is None:
        return None
    if args.tc_in is None or args.tc_out is None:
        raise SettingsError("--in and --out go together")
    if info.start_timecode is None:
        raise MediaError(f"{info.path}: has no timecode; give --frames FIRST-LAST instead of --in/--out")
    try:
        return range_from_timecodes(args.tc_in, args.tc_out, info.fps, info.start_timecode, info.first_frame)
    except ValueError as exc:
        raise SettingsError(f"{info.path}: {exc}") from None


def colour_from_args(args: argparse.Namespace) -> OcioColourSpaces | None:
    given = [args.ocio_config, args.input_space, args.working_space]
    if not any(given):
        return None
    if not all(given):
        raise SettingsError("--ocio-config, --input-space and --working-space go together")
    return OcioColourSpaces(args.ocio_config, args.input_space, args.working_space)


class ProgressReporter:
    """Turns engine `Progress` into a tqdm bar with ETA (terminal) or JSON lines (--json)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.started = time.monotonic()
        self.bar = None
        if not as_json and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=1.0, unit="", bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}", file=sys.stderr
            )

    def __call__(self, progress: Progress) -> None:
        fraction = min(1.0, max(0.0, progress.fraction))
        if self.as_json:
            elapsed = time.monotonic() - self.started
            eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
            emit(
                {
                    "event": "progress",
                    "phase": progress.phase,
                    "fraction": round(fraction, 4),
                    "frames_done": progress.frames_done,
                    "frames_total": progress.frames_total,
                    "window": progress.window,
                    "windows": progress.windows,
                    "step": progress.step,
                    "steps": progress.steps,
                    "eta_seconds": None if eta is None else round(eta, 1),
                }
            )
        elif self.bar is not None:
            self.bar.update(fraction - self.bar.n)
            self.bar.set_postfix_str(
                f"{progress.phase} window {progress.window + 1}/{progress.windows} "
                f"frames {progress.frames_done}/{progress.frames_total}",
                refresh=False,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def summary(result: RestoreResult, output: str) -> str:
    clock = f", timecode {result.start_timecode}" if result.start_timecode else ""
    return (
        f"restored {result.frames.count} frames ({result.frames}{clock}) at {result.width}x{result.height}"
        f" in {result.seconds:.1f} s -> {output}"
    )


def fail(args: argparse.Namespace, code: int, message: str) -> int:
    if args.json:
        emit({"event": "error", "exit_code": code, "message": message})
    print(f"error: {message}", file=sys.stderr)
    return code


def torchrun_worker() -> bool:
    """A non-zero rank of `torchrun ... vividvr restore --devices ...`."""
    return int(os.environ.get("RANK", "0")) > 0 and "WORLD_SIZE" in os.environ


def run(args: argparse.Namespace) -> int:
    if args.daemon:
        return restore_through_daemon(args)
    if args.devices and torchrun_worker():
        from vividvr_engine.distributed import parse_devices, serve_from_env

        serve_from_env(parse_devices(args.devices))  # rank 0 (the same command) does the I/O
        return EXIT_OK
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    reporter = None
    cancel = CancelToken()
    try:
        info = probe(args.input)  # bad input fails here, before any model is loaded
        spec = RestoreJobSpec(
            input=args.input,
            output=args.output,
            frames=frames_from_args(args, info),
            format=args.format,
            overwrite=args.overwrite,
            ten_bit=args.bit_depth == 10,
            colour=colour_from_args(args),
        )
        settings = settings_from_args(args)
        devices = devices_from_args(args, info, spec, settings)
        require_captioner(args.engine, settings, args.checkpoints)
        device = devices[0] if devices else args.device
        engine = create_engine(args.engine, args.checkpoints, device, offload=settings.offload)
        if args.batch_tiles:
            engine.batch_tiles = args.batch_tiles
        if args.split_scenes:
            from vividvr_editorial.scenes import split_engine_at_scenes

            engine = split_engine_at_scenes(engine, args.input, spec.frames or info.frames)
        reporter = ProgressReporter(args.json)
        result = restore_clip(
            spec, engine, settings, reporter, cancel=cancel, state_dir=args.state_dir, devices=devices
        )
    except CheckpointError as exc:
        return fail(args, EXIT_BAD_INPUT, f"{exc}\n{CHECKPOINT_HINT}")
    except (MediaError, SettingsError) as exc:
        return fail(args, EXIT_BAD_INPUT, str(exc))
    except (KeyboardInterrupt, Cancelled):
        cancel.cancel()
        kept = f"; finished segments are kept in {args.state_dir}" if args.state_dir else ""
        return fail(args, EXIT_FAILURE, f"interrupted{kept}")
    except VividVRError as exc:
        return fail(args, EXIT_FAILURE, str(exc))
    except OSError as exc:
        return fail(args, EXIT_FAILURE, f"{exc.filename or args.output}: {exc.strerror or exc}")
    finally:
        if reporter is not None:
            reporter.close()
    if args.json:
        emit(
            {
                "event": "done",
                "frames": result.frames.count,
                "first": result.frames.first,
                "last": result.frames.last,
                "timecode": result.start_timecode,
                "width": result.width,
                "height": result.height,
                "seconds": round(result.seconds, 3),
                "output": args.output,
                "files": len(result.outputs),
            }
        )
    else:
        print(summary(result, args.output))
    return EXIT_OK
