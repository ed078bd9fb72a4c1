"""Run a reel plan: every range restored (or found restored), each failure kept to its own range.

The restore itself is a callable the CLI supplies (in process with `restore_clip`, or through a
daemon), so this module only decides what to run, in what order, and what each range came to.
A range whose published output exists is never run again: outputs appear under their final names
only when complete (`restore_clip` publishes atomically), so existence means finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vividvr_client.timecode import FrameRange
from vividvr_editorial import layout
from vividvr_editorial.planning import PlannedRange, ReelPlan
from vividvr_engine.errors import Cancelled, MediaError
from vividvr_engine.media.sequence import is_sequence_path, parse_pattern

RESTORED, ALREADY, FAILED = "restored", "already restored", "failed"


@dataclass(frozen=True)
class RangeOutcome:
    name: str
    status: str  # RESTORED, ALREADY or FAILED
    output: str
    message: str = ""


def is_published(output: str, frames: FrameRange) -> bool:
    """Are all of the restored `frames` there under their final names?"""
    if is_sequence_path(output) and not output.lower().endswith(layout.MOVIE_SUFFIX):
        try:
            present = set(parse_pattern(output).scan())
        except MediaError:
            return False
        return all(f in present for f in range(frames.first, frames.last + 1))
    return Path(output).is_file()


RestoreOne = Callable[[PlannedRange, str, Path], None]  # (range, output, state folder); raises on failure


def run_plan(
    plan: ReelPlan,
    outputs: dict[str, str],
    output_dir: Path,
    restore_one: RestoreOne,
    on_outcome: Callable[[RangeOutcome], None] = lambda outcome: None,
) -> list[RangeOutcome]:
    """Restore each range not yet published; a failing range is reported and the next one runs."""
    outcomes = []
    for plan_range in plan.ranges:
        output = outputs[plan_range.name]
        if is_published(output, plan_range.frames):
            outcome = RangeOutcome(plan_range.name, ALREADY, output)
        else:
            try:
                restore_one(plan_range, output, layout.state_dir(output_dir, plan_range))
                outcome = RangeOutcome(plan_range.name, RESTORED, output)
            except (KeyboardInterrupt, Cancelled):
                raise
            except Exception as exc:  # one range's failure must not stop the reel; it is reported
                outcome = RangeOutcome(plan_range.name, FAILED, output, str(exc) or type(exc).__name__)
        outcomes.append(outcome)
        on_outcome(outcome)
    return outcomes
