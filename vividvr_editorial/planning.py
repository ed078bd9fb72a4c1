"""The reel plan: which source frames to restore, once each, for every clip of every video track.

A clip's used frames are its visible range (its source range widened by any transition that
reads past the cut) mapped onto its media's frame numbers with the daemon's OTIO arithmetic
(`vividvr_daemon.otio_clip`), plus handles, clamped to the media. Uses of one media file that
overlap or touch are merged, so a source cut in five times is restored once. Retimed, reversed
and nested clips and generators are skipped with a reason: their frames are not a plain source
range. Everything here is plain data, printed by `--dry-run` and carried into the farm bundle.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import opentimelineio as otio

from vividvr_client.timecode import FrameRange, parse_timecode
from vividvr_daemon.otio_clip import RETIME_EFFECTS, OtioError, media_frames
from vividvr_editorial.errors import EditorialError
from vividvr_editorial.relink import Linked, MediaIndex, relink


@dataclass(frozen=True)
class ClipUse:
    """One clip's use of its media, in the media's own frame numbers."""

    track: int  # index among the timeline's video tracks
    item: int  # index of the clip within its track
    clip: str
    media: str
    frames: FrameRange  # the frames the clip shows (with transition overlaps)
    available_start: float  # timecode-absolute start of the media (frame `base`), at `media_rate`
    media_rate: float
    base: int
    linked_by: str


@dataclass(frozen=True)
class Skipped:
    track: int
    item: int
    clip: str
    reason: str


@dataclass(frozen=True)
class PlannedRange:
    """One restore: `frames` of `media`, covering the uses listed in `clips`."""

    name: str  # unique, file-name safe: output and state folders are named after it
    media: str
    frames: FrameRange
    clips: tuple[str, ...]

    def contains(self, use: ClipUse) -> bool:
        return use.media == self.media and use.frames.first in self.frames and use.frames.last in self.frames


@dataclass(frozen=True)
class ReelPlan:
    timeline: str
    handles: int
    ranges: tuple[PlannedRange, ...]
    uses: tuple[ClipUse, ...]
    skipped: tuple[Skipped, ...]

    @property
    def restored_frames(self) -> int:
        return sum(r.frames.count for r in self.ranges)

    @property
    def edited_frames(self) -> int:
        return sum(u.frames.count for u in self.uses)

    def ranges_for(self, use: ClipUse) -> list[PlannedRange]:
        """The ranges holding the use's frames: one, or several after a scene or task split."""
        return [r for r in self.ranges if r.media == use.media
                and r.frames.first <= use.frames.last and r.frames.last >= use.frames.first]

    def to_dict(self) -> dict:
        def frames(r: FrameRange) -> dict:
            return {"first": r.first, "last": r.last, "timecode": r.timecode}

        return {
            "timeline": self.timeline,
            "handles": self.handles,
            "ranges": [{"name": r.name, "media": r.media, "frames": frames(r.frames), "clips": list(r.clips)}
                       for r in self.ranges],
            "skipped": [asdict(s) for s in self.skipped],
            "restored_frames": self.restored_frames,
            "edited_frames": self.edited_frames,
        }


def video_items(timeline: otio.schema.Timeline):  # type: ignore[no-untyped-def]
    """(track index, item index, item) for every item of every video track, transitions left out."""
    for t, track in enumerate(timeline.video_tracks()):
        for i, item in enumerate(track):
            if not isinstance(item, (otio.schema.Gap, otio.schema.Transition)):
                yield t, i, item


def skip_reason(item: otio.core.Item) -> str | None:
    """Why an item's frames are not a plain source range, or None when they are."""
    if isinstance(item, (otio.schema.Stack, otio.schema.Track)):
        return "nested sequence: restore the clips of the nested timeline itself"
    if not isinstance(item, otio.schema.Clip):
        return f"{type(item).__name__} is not a clip"
    if isinstance(item.media_reference, otio.schema.GeneratorReference):
        return "generator or title: it has no source media"
    for effect in item.effects:
        if isinstance(effect, otio.schema.LinearTimeWarp) and effect.time_scalar < 0:
            return "reversed clip: restore its media without the reverse"
        if isinstance(effect, RETIME_EFFECTS):
            return "speed change: restore its media without the retime"
    return None


def _available(clip: otio.schema.Clip, linked: Linked) -> tuple[float, float, int]:
    """(timecode-absolute start of the media, its rate, its first frame number) as the daemon reads them.

    The reference's own available range and sequence numbering hold when the media was found at
    its path or by its file name (the same media, moved); media found by reel and timecode, or a
    reference without a range, is described by what the media layer probes.
    """
    info = linked.info
    ref = clip.media_reference
    same_media = linked.how in ("reference", "file name")
    base = ref.start_frame if same_media and isinstance(ref, otio.schema.ImageSequenceReference) else info.first_frame
    available = getattr(ref, "available_range", None) if same_media else None
    if available is not None:
        return available.start_time.value, available.start_time.rate, base
    if info.start_timecode:
        return float(parse_timecode(info.start_timecode, info.fps)), float(info.fps), base
    return 0.0, float(info.fps), base


def clip_use(t: int, i: int, clip: otio.schema.Clip, index: MediaIndex) -> ClipUse:
    """The media frames `clip` shows; EditorialError naming what stops it."""
    linked = relink(clip, index)
    available_start, media_rate, base = _available(clip, linked)
    try:
        shown = clip.visible_range()
    except otio.exceptions.OTIOError:
        shown = clip.trimmed_range()
    start, duration = shown.start_time, shown.duration.rescaled_to(shown.start_time.rate)
    try:
        frames = media_frames(start.value, start.rate, duration.value, available_start, media_rate, base)
    except OtioError as exc:
        raise EditorialError(str(exc)) from None
    info = linked.info
    if frames.first < info.first_frame or frames.last > info.last_frame:
        raise EditorialError(
            f"source range {frames} is outside its media {linked.path} (frames {info.first_frame}-"
            f"{info.last_frame}); relink the clip to the full-length media"
        )
    return ClipUse(t, i, clip.name, linked.path, info.frames.sub(frames.first, frames.last),
                   available_start, media_rate, base, linked.how)


def merge_spans(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, tuple[str, ...]]]:
    """Inclusive spans (first, last, label) joined where they overlap or touch, labels kept in order."""
    runs: list[tuple[int, int, tuple[str, ...]]] = []
    for first, last, label in sorted(spans):
        if runs and first <= runs[-1][1] + 1:
            run_first, run_last, labels = runs[-1]
            runs[-1] = (run_first, max(run_last, last), labels if label in labels else (*labels, label))
        else:
            runs.append((first, last, (label,)))
    return runs


def merge(uses: list[ClipUse], handles: int, infos: dict[str, FrameRange]) -> list[PlannedRange]:
    """One range per run of overlapping or adjacent uses (with handles, clamped) of each media."""
    ranges: list[PlannedRange] = []
    names: set[str] = set()
    for media in sorted({u.media for u in uses}):
        whole = infos[media]
        spans = [(max(whole.first, u.frames.first - handles), min(whole.last, u.frames.last + handles), u.clip)
                 for u in uses if u.media == media]
        for first, last, clips in merge_spans(spans):
            name = unique_name(f"{media_stem(media)}.{first}-{last}", names)
            ranges.append(PlannedRange(name, media, whole.sub(first, last), clips))
    return ranges


def split_ranges(plan: ReelPlan, cuts: dict[str, list[int]]) -> ReelPlan:
    """`plan` with each range cut before the frames `cuts[range name]` (a clip across a cut is conformed in pieces)."""
    ranges: list[PlannedRange] = []
    names: set[str] = set()
    for plan_range in plan.ranges:
        frames = plan_range.frames
        inside = sorted({c for c in cuts.get(plan_range.name, ()) if frames.first < c <= frames.last})
        starts = [plan_range.frames.first, *inside]
        ends = [c - 1 for c in inside] + [plan_range.frames.last]
        for first, last in zip(starts, ends, strict=True):
            name = unique_name(f"{media_stem(plan_range.media)}.{first}-{last}", names)
            clips = tuple(u.clip for u in plan.uses if u.media == plan_range.media
                          and u.frames.first <= last and u.frames.last >= first)
            ranges.append(PlannedRange(name, plan_range.media, plan_range.frames.sub(first, last), clips))
    return replace(plan, ranges=tuple(ranges))


def split_long_ranges(plan: ReelPlan, max_frames: int, window_frames: int) -> ReelPlan:
    """Ranges longer than `max_frames` cut into pieces of whole temporal windows (at least one window each).

    Not exact: each piece is restored alone, so frames near a join lack the context of the other side.
    """
    if max_frames < 1:
        raise EditorialError(f"--max-task-frames {max_frames}: must be at least 1")
    piece = max(1, max_frames // window_frames) * window_frames
    cuts = {r.name: list(range(r.frames.first + piece, r.frames.last + 1, piece)) for r in plan.ranges}
    return split_ranges(plan, cuts)


def media_stem(path: str) -> str:
    """A file-name-safe stem: `plate` for plate.mov and for plate.####.exr."""
    name = Path(path).name.split("#")[0].split("%")[0]
    stem = Path(name).stem if "#" not in path and "%" not in path else name
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_.") or "media"


def unique_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def plan_reel(timeline: otio.schema.Timeline, index: MediaIndex, handles: int = 0) -> ReelPlan:
    """Every video clip of `timeline` as a restore range or a skip reason; nothing is dropped silently."""
    if handles < 0:
        raise EditorialError(f"--handles {handles}: handles cannot be negative")
    uses: list[ClipUse] = []
    skipped: list[Skipped] = []
    for t, i, item in video_items(timeline):
        reason = skip_reason(item)
        if reason is None:
            try:
                uses.append(clip_use(t, i, item, index))
                continue
            except EditorialError as exc:
                reason = str(exc)
        skipped.append(Skipped(t, i, item.name, reason))
    infos = {u.media: index.probe(u.media).frames for u in uses}
    return ReelPlan(timeline.name, handles, tuple(merge(uses, handles, infos)), tuple(uses), tuple(skipped))


def describe(plan: ReelPlan) -> str:
    """The plan as `--dry-run` prints it: one line per range and per skipped clip."""
    lines = [f"timeline {plan.timeline!r}: {len(plan.ranges)} ranges to restore ({plan.restored_frames} frames for"
             f" {plan.edited_frames} edited frames, handles {plan.handles}), {len(plan.skipped)} clips skipped"]
    for r in plan.ranges:
        clock = f" ({r.frames.timecode})" if r.frames.timecode else ""
        lines.append(f"restore {r.name}: {r.media} frames {r.frames}{clock} for {', '.join(r.clips)}")
    for s in plan.skipped:
        lines.append(f"skip track V{s.track + 1} clip {s.item + 1} {s.clip!r}: {s.reason}")
    return "\n".join(lines)

