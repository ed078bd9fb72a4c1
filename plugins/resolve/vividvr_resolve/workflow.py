"""Restore and collect: what to send, how to send it, and how the result comes back onto the timeline.

Host calls go through `host.ResolveHost`, daemon calls through `vividvr_client.client`. The order is
chosen so a failure early changes nothing in the project: clips are read, the daemon is reached and
every job is accepted before anything is imported, placed or marked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import grpc

from vividvr_client.client import DaemonClient, DaemonError, describe, make_request, pb
from vividvr_resolve.editorial import (
    ClipMedia,
    ItemFacts,
    Span,
    Unusable,
    clamp_handles,
    first_free_track,
    item_span,
    otio_clip,
    restored_frames,
    restored_media,
)
from vividvr_resolve.host import HostError, ResolveHost, clip_media
from vividvr_resolve.settings import PluginSettings

Progress = Callable[[str, float], None]  # (message, fraction of the whole run 0..1)
TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class Outcome:
    """What happened to one picked clip, for the person who picked it."""

    name: str
    status: str  # restored, queued, pending, skipped, failed
    message: str
    job_id: str = ""


@dataclass
class Target:
    """One clip to restore: its media and frames, and the timeline item it came from (None: a bin clip)."""

    name: str
    media: ClipMedia
    span: Span
    rate: Fraction  # the clock its OTIO source range is written on (the timeline's, or the clip's own)
    mpi: Any
    item: Any = None
    facts: ItemFacts | None = None
    timeline: Any = None
    placement: str = "take"


class NothingToRestore(RuntimeError):
    """Nothing usable is selected; the message lists what was skipped and why."""


def gather(host: ResolveHost, settings: PluginSettings,
           chosen: tuple[str, list] | None = None) -> tuple[list[Target], list[Outcome]]:
    """The clips the artist means (`chosen`, else the selection), and the ones skipped with the reason."""
    where, picked = chosen or host.selection()
    targets, skipped = [], []
    timeline = host.timeline()
    for thing in picked:
        name = thing.GetName() or "(unnamed)"
        try:
            if where == "timeline":
                facts = host.item_facts(thing)
                rate = host.timeline_rate(timeline)
                span = item_span(facts, rate, settings.handles)
                targets.append(Target(name, facts.media, span, rate, thing.GetMediaPoolItem(), thing, facts,
                                      timeline, settings.placement))
            else:
                media = clip_media(thing)
                targets.append(Target(name, media, clamp_handles(media, 0, media.frames, 0), media.rate, thing))
        except Unusable as exc:
            skipped.append(Outcome(name, "skipped", f"{name} {exc}"))
    if not targets:
        reasons = "; ".join(o.message for o in skipped)
        raise NothingToRestore(
            "Nothing to restore: select video clips on the timeline (or put the playhead over one, or select clips"
            " in the media pool)" + (f". Skipped: {reasons}" if reasons else "")
        )
    return targets, skipped


def request_for(target: Target, settings: PluginSettings) -> pb.RestoreRequest:
    return make_request(
        "",
        settings.output_dir,
        settings.name_template(target.media.stem),
        otio_clip_json=otio_clip(target.media, target.span, target.rate),
        handles=(target.span.before, target.span.after),
        engine=settings.engine,
        settings=settings.engine_settings(),
        output_format=settings.output_format,
        label=f"Resolve: {target.name}",
    )


def connect(settings: PluginSettings) -> DaemonClient:
    """A client to a daemon that answers, or DaemonError with a message saying how to start one."""
    client = DaemonClient(settings.daemon)
    try:
        client.wait_ready(settings.connect_timeout)
    except DaemonError:
        client.close()
        raise DaemonError(
            grpc.StatusCode.UNAVAILABLE,
            f"No VividVR daemon answers at {settings.daemon}. Start it with `vividvr daemon start`"
            " (or set the daemon address in the dialog); nothing was changed in the project.",
        ) from None
    return client


def submit(client: DaemonClient, targets: list[Target], settings: PluginSettings) -> tuple[list, list[Outcome]]:
    """[(target, job id)] accepted by the daemon, and the refusals."""
    accepted, refused = [], []
    for target in targets:
        try:
            accepted.append((target, client.submit(request_for(target, settings)).job_id))
        except DaemonError as exc:
            refused.append(Outcome(target.name, "failed", f"{target.name}: the daemon refused it: {exc.message}"))
    return accepted, refused


def queue_record(target: Target, job_id: str) -> dict:
    """What a queued job leaves in the project, enough for `collect` to bring it back."""
    return {"job": job_id, "state": "queued", "offset": target.span.offset, "count": target.span.count,
            "placement": target.placement}


def record_queued(host: ResolveHost, target: Target, job_id: str) -> Outcome:
    record = queue_record(target, job_id)
    if target.item is not None:
        host.add_marker(target.item, "queued", "Vivid-VR queued", f"job {job_id}", record)
    else:
        host.set_queued_on_clip(target.mpi, [*host.queued_on_clip(target.mpi), record])
    return Outcome(target.name, "queued", f"{target.name}: queued as job {job_id}", job_id)


def bring_back(host: ResolveHost, target: Target, job_id: str, completed: pb.Completed,
               settings: PluginSettings) -> Outcome:
    """Import the restored media into the bin and put it where the original is (a take or a free track)."""
    restored = restored_media(completed.otio_clip_json, completed.first_frame, completed.last_frame)
    mpi = host.import_restored(restored)
    engine_settings = settings.engine_settings()
    host.tag_media(mpi, settings.clip_color, job_id, engine_settings)
    if target.item is None:
        return Outcome(target.name, "restored", f"{target.name}: restored into the VividVR Restored bin", job_id)
    start, end = restored_frames(target.media, target.span, restored)
    facts = target.facts
    assert facts is not None
    if target.placement == "take":
        host.add_take(target.item, mpi, start, end)
        placed, where = target.item, "as a take"
    else:
        track = first_free_track(host.occupied(target.timeline), facts.track, facts.record_start, facts.record_end)
        placed = host.append(target.timeline, mpi, start, end, track, facts.record_start)
        if int(placed.GetEnd()) != facts.record_end:
            raise HostError(f"the restored clip of {target.name} ends at {placed.GetEnd()}, not {facts.record_end}")
        where = f"on V{track}"
    host.tag_item(placed, settings.clip_color)
    note = f"job {job_id}; " + ", ".join(f"{k}={v}" for k, v in sorted(engine_settings.items()))
    host.add_marker(placed, "restored", "Vivid-VR restored", note,
                    {"job": job_id, "state": "restored", "settings": engine_settings})
    return Outcome(target.name, "restored", f"{target.name}: restored {where}", job_id)


def finish(host: ResolveHost, target: Target, job_id: str, event: pb.RestoreEvent,
           settings: PluginSettings) -> Outcome:
    """The outcome of a job's final event (bringing the media back when it completed)."""
    kind = event.WhichOneof("kind")
    if kind == "completed":
        try:
            return bring_back(host, target, job_id, event.completed, settings)
        except (HostError, ValueError) as exc:
            return Outcome(target.name, "failed", f"{target.name}: restored, but could not bring it back: {exc}",
                           job_id)
    return Outcome(target.name, "failed", f"{target.name}: {describe(event)}", job_id)


def render_now(host: ResolveHost, client: DaemonClient, accepted: list, settings: PluginSettings,
               progress: Progress) -> list[Outcome]:
    """Follow each job to its end, reporting progress, and bring each result back as it completes."""
    outcomes = []
    for number, (target, job_id) in enumerate(accepted):
        final = None
        for event in client.watch(job_id):
            kind = event.WhichOneof("kind")
            within = event.progress.fraction if kind == "progress" else (1.0 if kind in TERMINAL else 0.0)
            progress(f"{target.name} ({number + 1}/{len(accepted)}): {describe(event)}",
                     (number + within) / len(accepted))
            if kind in TERMINAL:
                final = event
        if final is None:
            outcomes.append(Outcome(target.name, "failed", f"{target.name}: the job ended without a result", job_id))
        else:
            outcomes.append(finish(host, target, job_id, final, settings))
    return outcomes


def restore(host: ResolveHost, settings: PluginSettings, progress: Progress,
            chosen: tuple[str, list] | None = None) -> list[Outcome]:
    """The whole "Restore with Vivid-VR" run without a dialog. Raises NothingToRestore or DaemonError."""
    targets, outcomes = gather(host, settings, chosen)
    client = connect(settings)
    try:
        accepted, refused = submit(client, targets, settings)
        outcomes += refused
        if settings.mode == "queue":
            outcomes += [record_queued(host, target, job_id) for target, job_id in accepted]
        else:
            outcomes += render_now(host, client, accepted, settings, progress)
    finally:
        client.close()
    return outcomes


def _completed_event(job: pb.Job) -> pb.RestoreEvent:
    if job.state == pb.JOB_STATE_COMPLETED:
        return pb.RestoreEvent(job_id=job.id, completed=job.completed)
    if job.state == pb.JOB_STATE_FAILED:
        return pb.RestoreEvent(job_id=job.id, failed=job.failed)
    return pb.RestoreEvent(job_id=job.id, cancelled=pb.Cancelled(message="cancelled"))


def _target_from_record(host: ResolveHost, item: Any, timeline: Any, record: dict) -> Target:
    facts = host.item_facts(item)
    span = clamp_handles(facts.media, int(record["offset"]), int(record["count"]), 0)
    return Target(item.GetName(), facts.media, span, host.timeline_rate(timeline), item.GetMediaPoolItem(), item,
                  facts, timeline, record.get("placement", "take"))


def collect(host: ResolveHost, settings: PluginSettings) -> list[Outcome]:
    """Bring back every finished job this project queued; leave unfinished ones queued."""
    client = connect(settings)
    outcomes = []
    try:
        for timeline, item in list(host.timeline_items()):
            for frame, record in host.our_markers(item):
                if record.get("state") == "queued":
                    outcomes.append(_collect_one(host, client, settings, record, item, timeline, frame))
        for mpi in list(host.pool_clips()):
            records = host.queued_on_clip(mpi)
            left = []
            for record in records:
                outcome = _collect_one(host, client, settings, record, None, None, None, mpi)
                outcomes.append(outcome)
                if outcome.status == "pending":
                    left.append(record)
            if records:
                host.set_queued_on_clip(mpi, left)
    finally:
        client.close()
    return outcomes


def _collect_one(host: ResolveHost, client: DaemonClient, settings: PluginSettings, record: dict, item: Any,
                 timeline: Any, frame: int | None, mpi: Any = None) -> Outcome:
    job_id = record["job"]
    name = item.GetName() if item is not None else mpi.GetName()
    try:
        job = client.get(job_id)
    except DaemonError as exc:
        return Outcome(name, "pending", f"{name}: job {job_id} unknown to the daemon ({exc.message})", job_id)
    if job.state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING):
        return Outcome(name, "pending", f"{name}: job {job_id} is not finished yet", job_id)
    try:
        if item is not None:
            target = _target_from_record(host, item, timeline, record)
        else:
            media = clip_media(mpi)
            target = Target(name, media, clamp_handles(media, int(record["offset"]), int(record["count"]), 0),
                            media.rate, mpi)
    except Unusable as exc:
        return Outcome(name, "pending", f"{name}: cannot bring job {job_id} back: {name} {exc}", job_id)
    outcome = finish(host, target, job_id, _completed_event(job), settings)
    if item is not None and frame is not None:
        host.delete_marker(item, frame)
        if outcome.status == "failed":
            host.add_marker(item, "failed", "Vivid-VR failed", outcome.message, {"job": job_id, "state": "failed"})
    return outcome
