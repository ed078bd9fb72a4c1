"""Restore, cancel and re-attach for VividVR nodes: the node's knobs are the job's whole record.

Knob values are read on the main thread into a request before any work starts; the daemon is
then followed from a worker thread, which touches the node only through `ui` (Nuke's
executeInMainThread in the GUI, a direct call in terminal mode). Everything the node needs to
show its result again (job id, restored media and frames, the plate's frame shift and colour
space) is stored in its own knobs, so a saved script reopened later shows the result, or
re-attaches to a job still running, from those values alone.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from vividvr_client.client import DEFAULT_ADDRESS, DaemonClient, DaemonError, describe, make_request, pb
from vividvr_client.timecode import FrameRange
from vividvr_nuke import host
from vividvr_nuke.plate import PlateError, name_template, otio_clip, plate_from_read, restore_frames, restored_read

ADDRESS_ENV = "VIVIDVR_DAEMON"
TOKEN_FILE_ENV = "VIVIDVR_DAEMON_TOKEN_FILE"
POLL_SECONDS = 0.2  # how often a follower looks at the progress task's cancel button
# knob name -> how a knob value becomes a RestoreSettings value (None: leave the engine default)
SETTINGS_KNOBS: dict[str, Callable[[Any], Any]] = {
    "num_inference_steps": int,
    "guidance_scale": float,
    "restoration_guidance_scale": float,
    "upscale": float,
    "short_side": lambda v: int(v) or None,  # 0: use upscale instead
    "tile_size": int,
    "num_temporal_process_frames": int,
    "seed": int,
    "color_fix": str,
    "textfix": bool,
    "offload": str,
    "caption": lambda v: str(v).strip() or None,  # empty: the captioning model writes one
}
TERMINAL = ("completed", "failed", "cancelled")
FINISHED_STATES = (pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)

Ui = Callable[..., None]  # ui(fn, *args) runs fn(*args) where the node may be touched

_following: set[str] = set()  # job ids a follower in this session is watching
_following_lock = threading.Lock()


@dataclass(frozen=True)
class Submission:
    """Everything a worker needs, read from the node on the main thread."""

    request: pb.RestoreRequest
    comp_shift: int
    colorspace: str


def daemon_address(node: host.Node) -> str:
    return str(host.value(node, "daemon")).strip() or os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS


def connect(address: str) -> DaemonClient:
    """A client for `address`, with the bearer token from $VIVIDVR_DAEMON_TOKEN_FILE when set."""
    token_file = os.environ.get(TOKEN_FILE_ENV)
    token = None
    if token_file:
        with open(token_file, encoding="utf-8") as handle:
            token = handle.read().strip()
    return DaemonClient(address, token=token)


def submission(node: host.Node) -> Submission:
    """The daemon request for the node's plate and knobs; PlateError naming what to fix."""
    node_name = host.name(node)
    read = host.source_read(node)
    if read is None:
        raise PlateError(f"{node_name}: connect a Read of the plate to the input")
    if host.node_class(read) != "Read":
        raise PlateError(
            f"{node_name}: the input is {host.name(read)} ({host.node_class(read)}); connect the plate's Read"
            " directly, restoration works from the media files"
        )
    plate = plate_from_read(host.read_knobs(read), host.name(read))
    frames = restore_frames(plate, str(host.value(node, "frame_range")), host.project_frames(), node_name)
    folder = str(host.value(node, "output_folder")).strip()
    if not folder:
        raise PlateError(f"{node_name}: set the output folder")
    output_format = str(host.value(node, "output_format"))
    settings = {knob: convert(host.value(node, knob)) for knob, convert in SETTINGS_KNOBS.items()}
    request = make_request(
        plate.media,
        folder,
        name_template(output_format),
        otio_clip_json=otio_clip(plate, frames, host.project_fps()),
        handles=(int(host.value(node, "handles_before")), int(host.value(node, "handles_after"))),
        engine=str(host.value(node, "engine")),
        settings=settings,
        output_format=output_format,
        label=f"Nuke {node_name}",
    )
    return Submission(request, plate.comp_shift, plate.colorspace)


# ------------------------------------------------------------------------ node state (main thread)


def apply_result(node: host.Node) -> None:
    """Show the stored restored media at the plate's frames, or the plate when there is none."""
    output = str(host.value(node, "result_file"))
    if not output:
        host.show_restored(node, None)
        return
    restored = FrameRange(int(host.value(node, "result_first")), int(host.value(node, "result_last")))
    setup = restored_read(
        output, restored, int(host.value(node, "comp_shift")), str(host.value(node, "result_colorspace"))
    )
    host.show_restored(node, setup)


def _show(node: host.Node, status: str, message: str | None = None, progress: float | None = None) -> None:
    host.set_value(node, "status", status)
    if message is not None:
        host.set_value(node, "message", message)
    if progress is not None:
        host.set_value(node, "progress", progress)


def _begin(node: host.Node, job: Submission) -> None:
    host.set_value(node, "job_id", "")
    host.set_value(node, "result_file", "")
    host.set_value(node, "comp_shift", job.comp_shift)
    host.set_value(node, "result_colorspace", job.colorspace)
    apply_result(node)
    _show(node, "submitting", "", 0.0)


def _job_started(node: host.Node, job_id: str) -> None:
    host.set_value(node, "job_id", job_id)


def _event(node: host.Node, event: pb.RestoreEvent, output: str = "") -> None:
    """Show one job event; `output` (completed only) is the restored movie or sequence pattern."""
    kind = event.WhichOneof("kind")
    line = describe(event)
    if kind == "progress":
        _show(node, line, progress=event.progress.fraction)
    elif kind == "warning":  # kept with earlier ones; a re-attach replays them, so each appears once
        seen = [m for m in str(host.value(node, "message")).splitlines() if m]
        _show(node, line, "\n".join(seen if line in seen else [*seen, line]))
    elif kind == "completed":
        done = event.completed
        host.set_value(node, "result_file", output)
        host.set_value(node, "result_first", done.first_frame)
        host.set_value(node, "result_last", done.last_frame)
        apply_result(node)
        _show(node, f"completed in {done.seconds:.1f} s: frames {done.first_frame}-{done.last_frame} in {output}",
              progress=1.0)
    elif kind in ("failed", "cancelled"):
        _show(node, line, f"job {event.job_id} {line}")
    else:
        _show(node, line)


def _error(node: host.Node, message: str) -> None:
    _show(node, f"error: {message}", message)


def _daemon_message(error: DaemonError, address: str) -> str:
    if error.code.name == "UNAVAILABLE":
        return f"no VividVR daemon answers at {address}: start it with `vividvr daemon start` ({error.message})"
    return f"the daemon refused the job: {error}"


# ------------------------------------------------------------------------------- following


def _events(client: DaemonClient, job_id: str, task: Any) -> Iterator[pb.RestoreEvent]:
    """The job's events, while polling the progress task's cancel button between them."""
    inbox: queue.Queue = queue.Queue()

    def read() -> None:
        try:
            for event in client.watch(job_id):
                inbox.put(event)
        except Exception as exc:  # handed to the follower, which reports it on the node
            inbox.put(exc)
        inbox.put(None)

    threading.Thread(target=read, name=f"vividvr-watch-{job_id}", daemon=True).start()
    cancel_sent = False
    while True:
        if not cancel_sent and task.isCancelled():
            cancel_sent = True
            client.cancel(job_id)  # the job's own "cancelled" event then ends the stream
        try:
            item = inbox.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if item is None:
            return
        if isinstance(item, Exception):
            raise item
        yield item


def follow(node: host.Node, address: str, start: Callable[[DaemonClient], str], ui: Ui, task: Any) -> bool:
    """Start (submit or attach) and follow one job to its end; True when it completed.

    Runs on a worker thread in the GUI (ui = executeInMainThread) or on the main thread in
    terminal mode (ui = a direct call). Daemon errors end up on the node, never only in a log.
    """
    mine = ""
    try:
        with connect(address) as client:
            job_id = start(client)
            with _following_lock:
                if job_id in _following:
                    return False  # another follower in this session reports it
                _following.add(job_id)
                mine = job_id
            ui(_job_started, node, job_id)
            for event in _events(client, job_id, task):
                kind = event.WhichOneof("kind")
                task.setMessage(describe(event))
                if kind == "progress":
                    task.setProgress(int(event.progress.fraction * 100))
                # Completed.paths lists every file of a sequence; the job record has its pattern
                output = client.get(job_id).output_path if kind == "completed" else ""
                ui(_event, node, event, output)
                if kind in TERMINAL:
                    return kind == "completed"
        return False
    except DaemonError as exc:
        ui(_error, node, _daemon_message(exc, address))
        return False
    except (OSError, ValueError) as exc:  # token file unreadable, a closed channel
        ui(_error, node, f"{type(exc).__name__}: {exc}")
        return False
    finally:
        with _following_lock:
            _following.discard(mine)


def is_following(job_id: str) -> bool:
    with _following_lock:
        return job_id in _following


def _in_background(node: host.Node, address: str, start: Callable[[DaemonClient], str]) -> threading.Thread:
    title = f"VividVR {host.name(node)}"

    def work() -> None:
        task = host.progress_task(title)
        try:
            follow(node, address, start, host.in_main_thread, task)
        finally:
            del task  # Nuke closes the progress bar when its task is released

    thread = threading.Thread(target=work, name=f"vividvr-{host.name(node)}", daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------------------- node actions


def restore(node: host.Node) -> threading.Thread | None:
    """The Restore button: submit the node's plate and follow the job in the background."""
    job_id = str(host.value(node, "job_id"))
    if job_id and is_following(job_id):
        _show(node, f"already restoring (job {job_id}); cancel it first")
        return None
    try:
        job = submission(node)
    except PlateError as exc:
        _error(node, str(exc))
        return None
    _begin(node, job)
    return _in_background(node, daemon_address(node), lambda client: client.submit(job.request).job_id)


def attach(node: host.Node) -> threading.Thread | None:
    """Follow the job named by the node's job id knob (running or finished) in the background."""
    job_id = str(host.value(node, "job_id")).strip()
    if not job_id or is_following(job_id):
        return None
    _show(node, f"re-attaching to job {job_id}")
    # asking for the job first fails fast when the daemon is down or has no such job
    return _in_background(node, daemon_address(node), lambda client: client.get(job_id).id)


def cancel(node: host.Node) -> threading.Thread | None:
    """The Cancel button: ask the daemon to cancel the node's job (its follower then reports it)."""
    job_id = str(host.value(node, "job_id")).strip()
    if not job_id:
        _show(node, "no job to cancel")
        return None
    address = daemon_address(node)

    def work() -> None:
        try:
            with connect(address) as client:
                client.cancel(job_id)
        except DaemonError as exc:
            host.in_main_thread(_error, node, _daemon_message(exc, address))

    thread = threading.Thread(target=work, name=f"vividvr-cancel-{job_id}", daemon=True)
    thread.start()
    return thread


def created() -> None:
    """onCreate (new nodes and script loads): show the stored result; in the GUI re-attach to an unfinished job."""
    node = host.this_node()
    apply_result(node)
    if host.is_gui() and host.value(node, "job_id") and not host.value(node, "result_file"):
        attach(node)


# ------------------------------------------------------------------------------ terminal mode


class ConsoleTask:
    """The progress task of terminal mode: messages go to the farm log; cancelling is the farm's kill."""

    def __init__(self, title: str, write: Callable[[str], None]) -> None:
        self.title = title
        self.write = write

    def setMessage(self, message: str) -> None:
        self.write(f"{self.title}: {message}")

    def setProgress(self, percent: int) -> None:
        pass  # the message line already carries the fraction

    def isCancelled(self) -> bool:
        return False


def _direct(call: Callable[..., None], *args: Any) -> None:
    call(*args)


def restore_and_wait(
    node: host.Node, write: Callable[[str], None], force: bool = False, address: str | None = None
) -> bool:
    """Terminal mode (farm, batch): restore the node on this thread and wait; True when it has a result.

    A node that already shows a result is left alone unless `force`; one whose job is still
    running, or finished unseen, is re-attached; a failed or cancelled job is submitted again.
    """
    node_name = host.name(node)
    task = ConsoleTask(f"VividVR {node_name}", write)
    if host.value(node, "result_file") and not force:
        write(f"{node_name}: already restored ({host.value(node, 'result_file')}); use --force to redo it")
        return True
    address = address or daemon_address(node)
    job_id = str(host.value(node, "job_id")).strip()
    if job_id and not force and _reusable(address, job_id):
        write(f"{node_name}: re-attaching to job {job_id}")
        ok = follow(node, address, lambda client: job_id, _direct, task)
    else:
        try:
            job = submission(node)
        except PlateError as exc:
            _error(node, str(exc))
            return False
        _begin(node, job)
        ok = follow(node, address, lambda client: client.submit(job.request).job_id, _direct, task)
    if not ok:
        write(f"{node_name}: {host.value(node, 'status')}")
    return ok


def _reusable(address: str, job_id: str) -> bool:
    """True when the job exists and did not fail or get cancelled (so following it can give a result)."""
    try:
        with connect(address) as client:
            return client.get(job_id).state not in FINISHED_STATES
    except DaemonError as exc:  # an unreachable daemon is reported on the node by the follower
        return exc.code.name != "NOT_FOUND"
