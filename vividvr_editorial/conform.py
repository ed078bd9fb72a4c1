"""Conform: the same timeline with every restored clip pointing at its restored media.

Tracks, cuts, transitions, markers and record positions are untouched because only two fields of
each restored clip change: its media reference (now the restored movie or image sequence, whose
available range starts at the restored first frame on the source's clock) and, for Resolve's
timeline-rate ranges only, the source range re-expressed against that start. Both come from the
daemon's `restored_clip_json`, so a reel and a single daemon job conform identically.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from vividvr_daemon.otio_clip import ClipSource, restored_clip_json
from vividvr_editorial.planning import ClipUse, PlannedRange, ReelPlan
from vividvr_editorial.reading import write_like_input


def _source(use: ClipUse, clip: otio.schema.Clip) -> ClipSource:
    source_range = clip.source_range or clip.trimmed_range()
    start, duration = source_range.start_time, source_range.duration.rescaled_to(source_range.start_time.rate)
    return ClipSource(
        name=clip.name, media_path=use.media, sequence_start=use.base, media_rate=use.media_rate,
        available_start=use.available_start, source_start=start.value, source_duration=duration.value,
        source_rate=start.rate, source_range=source_range,
    )


def conform_clip(clip: otio.schema.Clip, use: ClipUse, plan_range: PlannedRange, output: str) -> None:
    """Point `clip` at the restored media of `plan_range`, keeping the frames and timecode it shows."""
    restored = otio.adapters.read_from_string(
        restored_clip_json(
            _source(use, clip),
            available_start=use.available_start,
            media_rate=use.media_rate,
            base_frame=use.base,
            first_frame=plan_range.frames.first,
            last_frame=plan_range.frames.last,
            output=output,
            metadata={"source": use.media, "range": plan_range.name, "frames": str(plan_range.frames)},
        ),
        "otio_json",
    )
    clip.media_reference = restored.media_reference.clone()
    if clip.source_range is not None:
        clip.source_range = restored.source_range
    clip.metadata["vividvr"] = dict(restored.metadata["vividvr"])


def pieces(clip: otio.schema.Clip, use: ClipUse, ranges: list[PlannedRange]) -> list[tuple[otio.schema.Clip, ClipUse]]:
    """`clip` razored where its frames cross from one range into the next (a scene or task split)."""
    if len(ranges) == 1:
        return [(clip, use)]
    trimmed = clip.trimmed_range()
    rate = trimmed.start_time.rate
    # media frame of the clip's first source frame (its visible range may start earlier, under a transition)
    source_first = use.frames.first + round((trimmed.start_time - clip.visible_range().start_time).to_frames(rate)
                                            if clip.parent() is not None else 0)
    source_last = source_first + round(trimmed.duration.rescaled_to(rate).value) - 1
    result = []
    for plan_range in ranges:
        first, last = max(source_first, plan_range.frames.first), min(source_last, plan_range.frames.last)
        if first > last:
            continue
        piece = clip.deepcopy()
        piece.source_range = otio.opentime.TimeRange(
            trimmed.start_time + otio.opentime.RationalTime(first - source_first, rate),
            otio.opentime.RationalTime(last - first + 1, rate),
        )
        result.append((piece, replace(use, frames=use.frames.sub(first, last))))
    return result


def conform(
    timeline: otio.schema.Timeline, plan: ReelPlan, outputs: dict[str, str], restored: set[str]
) -> otio.schema.Timeline:
    """A copy of `timeline` whose clips in `restored` ranges use their restored media `outputs[name]`.

    A clip whose frames span several ranges (after a scene or task split) becomes one clip per
    range, back to back, with the same record span.
    """
    result = timeline.deepcopy()
    tracks = result.video_tracks()
    for use in sorted(plan.uses, key=lambda u: (u.track, u.item), reverse=True):  # razoring shifts later items
        ranges = plan.ranges_for(use)
        if not all(r.name in restored for r in ranges):
            continue
        track = tracks[use.track]
        cut = pieces(track[use.item], use, ranges)
        for piece, piece_use in cut:
            plan_range = next(r for r in ranges if piece_use.frames.first in r.frames)
            conform_clip(piece, piece_use, plan_range, outputs[plan_range.name])
        if len(cut) > 1:
            del track[use.item]
            for offset, (piece, _use) in enumerate(cut):
                track.insert(use.item + offset, piece)
    return result


def write_conformed(
    timeline: otio.schema.Timeline, source: Path, otio_path: Path, edl_rate: Fraction
) -> list[Path]:
    """The .otio, plus the same timeline in the input's own format where its adapter writes."""
    otio_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = otio_path.with_name(otio_path.name + ".tmp")
    otio.adapters.write_to_file(timeline, str(tmp), adapter_name="otio_json")
    tmp.replace(otio_path)
    written = [otio_path]
    native = otio_path.with_suffix(source.suffix)
    if native != otio_path and write_like_input(timeline, source, native, edl_rate):
        written.append(native)
    return written
