"""`vividvr farm bundle|task`: a reel (or one long media file) as an Open Job Description job bundle.

`farm bundle` plans exactly as `vividvr reel restore` does and writes the bundle; its last line is
one shell command that runs the whole bundle here with the `openjd` CLI. `farm task` is what each
Restore task runs: `vividvr restore` for one range, its progress as OpenJD stdout lines.

Exit codes: 0 written (or task done), 1 task failed, 2 bad input (unreadable timeline, bundle
folder exists, output folder holding other work).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from vividvr_cli.reel_command import (
    ENGINE_FLAGS,
    add_reel_flags,
    add_restore_flags,
    load_plan,
    outputs_for,
    restore_parser,
)
from vividvr_client.timecode import FrameRange
from vividvr_engine.errors import MediaError, SettingsError

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
GPU_ENGINES = ("vividvr", "realesrgan")
DAEMON_ENV = "VIVIDVR_FARM_DAEMON"  # set for a session's tasks by its worker daemon's environment
LOCAL_FLAGS = ("--state-dir", "--checkpoints", "--device")  # flags a daemon refuses (it has its own)


def register(subparsers: argparse._SubParsersAction) -> None:
    farm = subparsers.add_parser("farm", help="render a reel on a render farm (Open Job Description bundles)")
    actions = farm.add_subparsers(dest="farm_action", metavar="ACTION", required=True)
    bundle = actions.add_parser(
        "bundle",
        help="write an OpenJD job bundle: one Restore task per planned range, then Conform",
        description="Write an Open Job Description job bundle for TIMELINE (or one MEDIA file). Submit it with"
        " `deadline bundle submit DIR`, or run it here with the command printed on the last line.",
    )
    bundle.add_argument("source", type=Path, metavar="TIMELINE|MEDIA")
    bundle.add_argument("--bundle", type=Path, required=True, metavar="DIR", help="new folder for the bundle")
    add_reel_flags(bundle)
    bundle.add_argument("--worker-daemon", action="store_true",
                        help="start a daemon per worker session so models load once, not once per task")
    add_restore_flags(bundle)
    bundle.set_defaults(run=run_bundle)

    enter = actions.add_parser("daemon-enter", help="(run by the farm) start a worker daemon; print it for OpenJD")
    enter.add_argument("--data-dir", type=Path, required=True)
    enter.add_argument("--media-root", type=Path, action="append", default=[])
    enter.add_argument("--output-root", type=Path, action="append", default=[])
    enter.add_argument("--checkpoints", type=Path)
    enter.set_defaults(run=run_daemon_enter)

    task = actions.add_parser("task", help="(run by the farm) vividvr restore ARGS with OpenJD progress lines")
    task.add_argument("restore_args", nargs=argparse.REMAINDER, metavar="RESTORE-ARGS")
    task.set_defaults(run=run_task)


def restore_flag_argv(args: argparse.Namespace) -> list[str]:
    """The engine and format flags the user gave, as `vividvr restore` arguments again."""
    argv: list[str] = []
    for action in restore_parser()._actions:
        if action.dest not in ENGINE_FLAGS:
            continue
        value = getattr(args, action.dest, None)
        if value is None or value == action.default:
            continue
        flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
        argv += [flag] if isinstance(action, argparse._StoreTrueAction) else [flag, str(value)]
    return argv


def reel_flag_argv(args: argparse.Namespace, timeline: Path) -> list[str]:
    argv = [str(timeline.resolve()), "--output-dir", str(args.output_dir.resolve()), "--handles", str(args.handles),
            "--edl-rate", str(args.edl_rate)]
    for root in args.media_root:
        argv += ["--media-root", str(root.resolve())]
    if args.split_scenes:
        argv.append("--split-scenes")
    if args.max_task_frames:
        argv += ["--max-task-frames", str(args.max_task_frames)]
    return argv + restore_flag_argv(args)


def layout_stem(media: Path) -> str:
    """plate for plate.mov and for plate.####.exr."""
    return media.name.split("#")[0].split("%")[0].rstrip("._") if "#" in media.name else media.stem


def media_timeline(media: Path, path: Path) -> None:
    """A one-clip timeline over a whole media file, kept beside the output for the Conform step."""
    import opentimelineio as otio

    from vividvr_engine.restore_job import probe

    info = probe(str(media))
    rate = float(info.fps)
    start = 0
    if info.start_timecode:
        start = otio.opentime.from_timecode(info.start_timecode, rate).value
    available = otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate),
                                        otio.opentime.RationalTime(info.last_frame - info.first_frame + 1, rate))
    timeline = otio.schema.Timeline(name=media.stem)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    reference = otio.schema.ExternalReference(target_url=str(media.resolve()), available_range=available)
    track.append(otio.schema.Clip(name=media.name, source_range=available, media_reference=reference))
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(path))


def gpu_memory(plan, index, args: argparse.Namespace) -> int | None:  # type: ignore[no-untyped-def]
    """Peak device memory of the largest range, for the farm's host requirements; None without a GPU engine."""
    if args.engine not in GPU_ENGINES:
        return None
    from vividvr_cli.restore_command import settings_from_args
    from vividvr_daemon import memory
    from vividvr_engine.pipeline import default_checkpoint_root

    settings = settings_from_args(args)
    model = None
    if args.engine == "vividvr":  # the estimate reads the checkpoints' headers: the sizes the workers load
        try:
            model = memory.read_model(args.checkpoints or default_checkpoint_root())
        except memory.CheckpointUnreadable as exc:
            raise SettingsError(
                f"the GPU memory each task needs is estimated from the checkpoints, which cannot be read ({exc});"
                " pass --checkpoints DIR holding the published files the workers use"
            ) from None

    def need(r) -> int:  # type: ignore[no-untyped-def]
        info = index.probe(r.media)
        return memory.estimate(args.engine, settings, info.height, info.width, r.frames.count, "cuda:0", model).bytes

    return max(need(r) for r in plan.ranges)


def daemon_argv(plan, args: argparse.Namespace) -> list[str]:  # type: ignore[no-untyped-def]
    """What the worker daemon may read (the media folders) and write (the output folder)."""
    argv = ["--output-root", str(args.output_dir.resolve())]
    for folder in sorted({str(Path(r.media).resolve().parent) for r in plan.ranges}):
        argv += ["--media-root", folder]
    if args.checkpoints:
        argv += ["--checkpoints", str(args.checkpoints.resolve())]
    return argv


def openjd_executable() -> str:
    beside = Path(sys.executable).parent / "openjd"
    return str(beside) if beside.is_file() else shutil.which("openjd") or "openjd"


def run_bundle(args: argparse.Namespace) -> int:
    from vividvr_editorial import layout
    from vividvr_editorial.errors import EditorialError
    from vividvr_editorial.reading import ADAPTERS
    from vividvr_farm.bundle import BundleInputs, local_run_command, write_bundle

    bundle_dir: Path = args.bundle
    if bundle_dir.exists():
        print(f"error: --bundle {bundle_dir}: already exists; choose a new folder", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        timeline_path = args.source
        if args.source.suffix.lower() not in ADAPTERS:
            timeline_path = args.output_dir / layout.HIDDEN / f"{layout_stem(args.source)}.otio"
            layout.claim(args.output_dir, timeline_path)
            media_timeline(args.source, timeline_path)
        args.timeline = timeline_path
        _timeline, plan, index = load_plan(args)
        layout.claim(args.output_dir, timeline_path)
        inputs = BundleInputs(
            name=timeline_path.stem, plan=plan, outputs=outputs_for(plan, index, args),
            output_dir=args.output_dir.resolve(), restore_flags=restore_flag_argv(args),
            conform_args=reel_flag_argv(args, timeline_path), gpu_memory_bytes=gpu_memory(plan, index, args),
            daemon_args=daemon_argv(plan, args) if args.worker_daemon else None,
        )
        write_bundle(inputs, bundle_dir)
    except (EditorialError, MediaError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"bundle {bundle_dir}: {len(plan.ranges)} Restore tasks ({plan.restored_frames} frames), then Conform;"
          f" {len(plan.skipped)} clips skipped", file=sys.stderr)
    for skipped in plan.skipped:
        print(f"skipped: {skipped.clip!r}: {skipped.reason}", file=sys.stderr)
    print(f"submit to AWS Deadline Cloud with: deadline bundle submit {bundle_dir}", file=sys.stderr)
    print(local_run_command(bundle_dir, openjd_executable()))
    return EXIT_OK


def run_daemon_enter(args: argparse.Namespace) -> int:
    """Start the worker daemon in the background and hand its address to the session's tasks."""
    argv = [sys.executable, "-m", "vividvr_cli.main", "daemon", "start", "--data-dir", str(args.data_dir),
            "--listen", "127.0.0.1:0"]
    for flag, values in (("--media-root", args.media_root), ("--output-root", args.output_root)):
        for value in values:
            argv += [flag, str(value)]
    if args.checkpoints:
        argv += ["--checkpoints", str(args.checkpoints)]
    started = subprocess.run(argv, capture_output=True, text=True)
    match = re.search(r"listening on (\S+);", started.stdout)
    if started.returncode != 0 or match is None:
        print(f"openjd_fail: the worker daemon did not start: {started.stderr.strip() or started.stdout.strip()}")
        return EXIT_FAILURE
    print(f"openjd_status: vividvr daemon listening on {match.group(1)}")
    print(f"openjd_env: {DAEMON_ENV}={match.group(1)}", flush=True)
    return EXIT_OK


def without_local_flags(restore_args: list[str]) -> list[str]:
    """RESTORE-ARGS less the flags that name this machine's state (the daemon keeps its own)."""
    kept, skip = [], False
    for arg in restore_args:
        if skip:
            skip = False
        elif arg in LOCAL_FLAGS:
            skip = True
        else:
            kept.append(arg)
    return kept


def run_task(args: argparse.Namespace) -> int:
    """Run `vividvr restore RESTORE-ARGS --json` and print its events as OpenJD lines; its exit code.

    In a session with a worker daemon ($VIVIDVR_DAEMON) the restore goes through it; a range whose
    output is already published is not sent again.
    """
    from vividvr_editorial.runner import is_published
    from vividvr_farm.progress import openjd_lines

    restore_args = list(args.restore_args)
    daemon = os.environ.get(DAEMON_ENV)
    if daemon:
        output = restore_args[restore_args.index("--output") + 1]
        frames = FrameRange.parse(restore_args[restore_args.index("--frames") + 1])
        if is_published(output, frames):
            print(f"openjd_progress: 100\nopenjd_status: already restored: {output}", flush=True)
            return EXIT_OK
        restore_args = [*without_local_flags(restore_args), "--daemon", daemon]
    argv = [sys.executable, "-m", "vividvr_cli.main", "restore", *restore_args, "--json"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=os.environ.copy()) as child:
        assert child.stdout is not None
        for line in child.stdout:
            for out in openjd_lines(line):
                print(out, flush=True)
    if child.returncode != 0:
        print(f"openjd_fail: vividvr restore exited with code {child.returncode}", flush=True)
        return EXIT_FAILURE
    return EXIT_OK
