"""`vividvr reel restore|conform`: restore every shot of an edit, then hand back a conformed timeline.

Exit codes: 0 every planned range restored and the timeline conformed; 1 some range failed (the
others are restored and conformed, and a rerun retries only what is missing); 2 bad input (an
unreadable timeline, an output folder holding other work, bad settings).
"""

from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from vividvr_cli.restore_flags import add_restore_flags as add_all_restore_flags
from vividvr_client.settings_spec import SETTINGS
from vividvr_engine.errors import CheckpointError, MediaError, SettingsError

if TYPE_CHECKING:  # the editorial layer (OpenTimelineIO) loads only when a reel command runs
    from vividvr_editorial.planning import PlannedRange, ReelPlan
    from vividvr_editorial.relink import MediaIndex
    from vividvr_editorial.runner import RangeOutcome

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
# `vividvr restore` flags (argparse dest) a reel passes on to every range
ENGINE_FLAGS = (
    "engine", "checkpoints", "device", "format", "bit_depth", *(s.name for s in SETTINGS),
    "ocio_config", "input_space", "working_space",
)


def restore_parser() -> argparse.ArgumentParser:
    """A parser holding `vividvr restore`'s flags, defined once in restore_flags."""
    parser = argparse.ArgumentParser(add_help=False)
    add_all_restore_flags(parser)
    return parser


def add_restore_flags(parser: argparse.ArgumentParser, dests: tuple[str, ...] = ENGINE_FLAGS) -> None:
    """Give `parser` `vividvr restore`'s engine and format flags (the actions themselves, not copies)."""
    for action in restore_parser()._actions:
        if action.dest in dests:
            parser._add_action(action)


def add_reel_flags(parser: argparse.ArgumentParser) -> None:
    """What says which frames a reel restores: shared by `reel` and `farm bundle`."""
    parser.add_argument("--output-dir", type=Path, required=True, metavar="DIR", help="restored media and timeline")
    parser.add_argument("--media-root", type=Path, action="append", default=[], metavar="DIR",
                        help="folder to relink missing media from (repeat)")
    parser.add_argument("--handles", type=int, default=0, metavar="N", help="extra frames restored each side of a cut")
    parser.add_argument("--edl-rate", type=Fraction, metavar="FPS",
                        help="frame rate of an EDL's timecode (e.g. 24, 25, 30000/1001; default 24)")
    parser.add_argument("--split-scenes", action="store_true",
                        help="split each range at the cuts PySceneDetect finds (long untrimmed sources)")
    parser.add_argument("--max-task-frames", type=int, metavar="N",
                        help="split longer ranges into pieces of whole temporal windows (joins are not exact)")


def register(subparsers: argparse._SubParsersAction) -> None:
    reel = subparsers.add_parser("reel", help="restore every shot of an edit (OTIO, EDL, FCP XML, AAF)")
    actions = reel.add_subparsers(dest="reel_action", metavar="ACTION", required=True)
    restore = actions.add_parser(
        "restore",
        help="restore every clip's source range once, then write TIMELINE.restored.otio",
        description="Restore every planned range of TIMELINE into --output-dir and write the conformed timeline"
        " (its path alone on the last line). Rerun to resume.",
    )
    restore.add_argument("timeline", type=Path, metavar="TIMELINE")
    add_reel_flags(restore)
    restore.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    restore.add_argument("--json", action="store_true", help="with --dry-run: the plan as JSON")
    restore.add_argument("--daemon", metavar="HOST:PORT", help="restore through a running daemon instead of here")
    add_restore_flags(restore)
    restore.set_defaults(run=run_restore)

    conform_parser = actions.add_parser(
        "conform", help="write TIMELINE.restored.otio from the ranges already restored in --output-dir"
    )
    conform_parser.add_argument("timeline", type=Path, metavar="TIMELINE")
    add_reel_flags(conform_parser)
    add_restore_flags(conform_parser)
    conform_parser.set_defaults(run=run_conform)


def load_plan(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """(timeline, plan, media index) from the reel flags; EditorialError / MediaError for bad input."""
    from vividvr_editorial.planning import plan_reel
    from vividvr_editorial.reading import EDL_RATE, read_timeline
    from vividvr_editorial.relink import MediaIndex

    if args.edl_rate is None:
        args.edl_rate = EDL_RATE
    timeline = read_timeline(args.timeline, args.edl_rate)
    index = MediaIndex.scan(args.media_root)
    plan = plan_reel(timeline, index, args.handles)
    if args.split_scenes:
        from vividvr_editorial.scenes import split_at_scenes

        plan = split_at_scenes(plan)
    if args.max_task_frames:
        from vividvr_editorial.planning import split_long_ranges

        plan = split_long_ranges(plan, args.max_task_frames, window_frames(args))
    return timeline, plan, index


def window_frames(args: argparse.Namespace) -> int:
    from vividvr_cli.restore_command import settings_from_args

    return settings_from_args(args).num_temporal_process_frames


def outputs_for(plan: ReelPlan, index: MediaIndex, args: argparse.Namespace) -> dict[str, str]:
    from vividvr_editorial import layout

    return {
        r.name: layout.output_for(r, args.output_dir, args.format, index.probe(r.media).kind) for r in plan.ranges
    }


def in_process_restorer(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Restore one range here; the engine (and its weights) is loaded once for the whole reel."""
    from vividvr_cli.restore_command import colour_from_args, settings_from_args
    from vividvr_engine.captioning import require_captioner
    from vividvr_engine.engines import create_engine
    from vividvr_engine.restore_job import RestoreJobSpec, restore_clip

    settings = settings_from_args(args)
    require_captioner(args.engine, settings, args.checkpoints)
    engine = create_engine(args.engine, args.checkpoints, args.device, offload=settings.offload)
    colour = colour_from_args(args)

    def restore_one(plan_range: PlannedRange, output: str, state: Path, progress=None) -> None:  # type: ignore[no-untyped-def]
        spec = RestoreJobSpec(plan_range.media, output, plan_range.frames, args.format,
                              ten_bit=args.bit_depth == 10, colour=colour)
        restore_clip(spec, engine, settings, progress or (lambda p: None), state_dir=state)
    return restore_one


def daemon_restorer(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Restore one range through `--daemon` with `vividvr restore --daemon`'s own request and follow."""
    from vividvr_cli.daemon_command import restore_through_daemon
    from vividvr_editorial.errors import EditorialError

    def restore_one(plan_range: PlannedRange, output: str, state: Path, progress=None) -> None:  # type: ignore[no-untyped-def]
        fields = {**vars(args), "input": plan_range.media, "output": output, "frames": str(plan_range.frames),
                  "overwrite": False, "json": False, "tc_in": None, "tc_out": None, "state_dir": None,
                  "split_scenes": None,  # the planned ranges are already split
                  "handles": (0, 0),  # and already hold the handles
                  "label": plan_range.name}
        if restore_through_daemon(argparse.Namespace(**fields)) != EXIT_OK:
            raise EditorialError(f"the daemon at {args.daemon} did not restore {plan_range.name} (see above)")

    return restore_one


class Bars:
    """One bar for the reel (frames of all ranges) and one for the current range, on a terminal."""

    def __init__(self, plan: ReelPlan) -> None:
        from tqdm import tqdm

        enabled = sys.stderr.isatty()
        self.reel = tqdm(total=plan.restored_frames, unit="frame", desc="reel", position=0, disable=not enabled,
                         file=sys.stderr)
        self.range = tqdm(total=1.0, desc="range", position=1, disable=not enabled, file=sys.stderr,
                          bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def start(self, plan_range: PlannedRange) -> None:
        self.range.reset(total=1.0)
        self.range.set_description_str(plan_range.name)

    def progress(self, progress) -> None:  # type: ignore[no-untyped-def]
        self.range.update(min(1.0, progress.fraction) - self.range.n)

    def finished(self, plan_range: PlannedRange) -> None:
        self.reel.update(plan_range.frames.count)

    def close(self) -> None:
        self.range.close()
        self.reel.close()


def print_summary(plan: ReelPlan, outcomes: list[RangeOutcome]) -> None:
    from vividvr_editorial.runner import FAILED

    for outcome in outcomes:
        detail = f": {outcome.message}" if outcome.message else f" -> {outcome.output}"
        print(f"{outcome.status}: {outcome.name}{detail}", file=sys.stderr)
    for skipped in plan.skipped:
        print(f"skipped: track V{skipped.track + 1} clip {skipped.item + 1} {skipped.clip!r}: {skipped.reason}",
              file=sys.stderr)
    failed = sum(o.status == FAILED for o in outcomes)
    print(f"{len(outcomes) - failed} of {len(outcomes)} ranges restored, {failed} failed,"
          f" {len(plan.skipped)} clips skipped", file=sys.stderr)


def fail(code: int, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def write_timeline(args: argparse.Namespace, timeline, plan: ReelPlan, outputs: dict[str, str],  # type: ignore[no-untyped-def]
                   restored: set[str]) -> Path:
    from vividvr_editorial import layout
    from vividvr_editorial.conform import conform, write_conformed

    otio_path = layout.restored_otio(args.output_dir, args.timeline)
    written = write_conformed(conform(timeline, plan, outputs, restored), args.timeline, otio_path, args.edl_rate)
    for extra in written[1:]:
        print(f"also written in the input's format: {extra}", file=sys.stderr)
    return otio_path


def refused_by_daemon(args: argparse.Namespace) -> list[str]:
    """Engine flags given that name this machine's things, which a daemon cannot take."""
    from vividvr_cli.daemon_command import LOCAL_ONLY_FLAGS

    return sorted({label for dest, label in LOCAL_ONLY_FLAGS.items()
                   if dest in ENGINE_FLAGS and getattr(args, dest, None) is not None})


def run_restore(args: argparse.Namespace) -> int:
    if args.daemon and refused_by_daemon(args):
        return fail(EXIT_BAD_INPUT, f"not available through the daemon: {', '.join(refused_by_daemon(args))}")
    from vividvr_editorial import layout
    from vividvr_editorial.errors import EditorialError
    from vividvr_editorial.planning import describe
    from vividvr_editorial.runner import FAILED, is_published, run_plan

    try:
        timeline, plan, index = load_plan(args)
        if args.dry_run:
            print(json.dumps(plan.to_dict(), indent=2) if args.json else describe(plan))
            return EXIT_OK
        layout.claim(args.output_dir, args.timeline)
        outputs = outputs_for(plan, index, args)
        if not plan.ranges:
            return fail(EXIT_FAILURE, "no clip of the timeline can be restored:\n" + describe(plan))
        restore_one = None  # a rerun with every range restored loads no model
        if any(not is_published(outputs[r.name], r.frames) for r in plan.ranges):
            restore_one = daemon_restorer(args) if args.daemon else in_process_restorer(args)
    except CheckpointError as exc:
        from vividvr_cli.restore_command import CHECKPOINT_HINT

        return fail(EXIT_BAD_INPUT, f"{exc}\n{CHECKPOINT_HINT}")
    except (EditorialError, MediaError, SettingsError) as exc:
        return fail(EXIT_BAD_INPUT, str(exc))
    bars = Bars(plan)

    def with_bars(plan_range: PlannedRange, output: str, state: Path) -> None:
        bars.start(plan_range)
        print(f"restoring {plan_range.name}: {plan_range.media} frames {plan_range.frames}", file=sys.stderr)
        assert restore_one is not None  # run_plan only restores unpublished ranges
        restore_one(plan_range, output, state, bars.progress)

    def finished(outcome: RangeOutcome) -> None:
        bars.finished(next(r for r in plan.ranges if r.name == outcome.name))

    try:
        outcomes = run_plan(plan, outputs, args.output_dir, with_bars, finished)
    except KeyboardInterrupt:
        return fail(EXIT_FAILURE, f"interrupted; rerun the same command to resume (state in {args.output_dir})")
    finally:
        bars.close()
    print_summary(plan, outcomes)
    restored = {o.name for o in outcomes if o.status != FAILED}
    otio_path = write_timeline(args, timeline, plan, outputs, restored)
    print(otio_path.resolve())
    return EXIT_OK if len(restored) == len(outcomes) else EXIT_FAILURE


def run_conform(args: argparse.Namespace) -> int:
    """The farm's Conform step: conform whatever ranges are published; exit 1 if any is missing."""
    from vividvr_editorial.errors import EditorialError
    from vividvr_editorial.runner import is_published

    try:
        timeline, plan, index = load_plan(args)
        outputs = outputs_for(plan, index, args)
    except (EditorialError, MediaError, SettingsError) as exc:
        return fail(EXIT_BAD_INPUT, str(exc))
    restored = {r.name for r in plan.ranges if is_published(outputs[r.name], r.frames)}
    missing = [r.name for r in plan.ranges if r.name not in restored]
    otio_path = write_timeline(args, timeline, plan, outputs, restored)
    for name in missing:
        print(f"not restored yet: {name}", file=sys.stderr)
    print(otio_path.resolve())
    return EXIT_FAILURE if missing else EXIT_OK

