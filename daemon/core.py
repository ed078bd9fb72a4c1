"""The job core: the queue, one worker thread per device, cancellation and live watching.

The gRPC servicer is a thin layer over this. Work order: highest priority first, then
submission order. Each worker keeps its last engine loaded (warm) and drops it after
`idle_unload_seconds` without work. A job's resumable state lives in `data_dir/jobs/<id>/`;
`restore_clip` continues from it after a crash, and the worker only announces frames it has
not announced before, so a resumed job's event history has no gaps and no repeats.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc

from vividvr_client.timecode import FrameRange
from vividvr_client.v1 import daemon_pb2 as pb
from vividvr_daemon import devices as devs
from vividvr_daemon import memory, otio_clip
from vividvr_daemon.admission import RequestError, plan_job
from vividvr_daemon.config import DaemonConfig
from vividvr_daemon.store import JobRow, JobStore
from vividvr_engine import __version__
from vividvr_engine.engine import CancelToken, Progress, RestorationEngine
from vividvr_engine.engines import create_engine
from vividvr_engine.errors import Cancelled, CheckpointError, MediaError, SettingsError
from vividvr_engine.restore_job import RestoreJobSpec, RestoreResult, probe, restore_clip
from vividvr_engine.settings import RestoreSettings

log = logging.getLogger("vividvr.daemon")

TERMINAL_EVENTS = frozenset({"completed", "failed", "cancelled"})
ERROR_CODES: tuple[tuple[type[Exception], int], ...] = (
    (MediaError, pb.ERROR_CODE_MEDIA),
    (SettingsError, pb.ERROR_CODE_SETTINGS),
    (CheckpointError, pb.ERROR_CODE_CHECKPOINT),
    (MemoryError, pb.ERROR_CODE_OUT_OF_MEMORY),
)
RESUMED_WARNING = "the daemon restarted while this job ran; it resumes from its last saved work"
SHUTDOWN_WARNING = "the daemon is stopping; this job resumes from its last saved work when it starts again"
WORKER_DIED = "an engine worker process died"


def error_code(exc: BaseException) -> int:
    for kind, code in ERROR_CODES:
        if isinstance(exc, kind):
            return code
    if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch
        return pb.ERROR_CODE_OUT_OF_MEMORY
    if type(exc).__name__ == "DistributedError":  # vividvr_engine.distributed, without importing torch
        return pb.ERROR_CODE_DEVICE_WORKER
    return pb.ERROR_CODE_INTERNAL


def restore_on_devices(
    spec: RestoreJobSpec,
    engine: RestorationEngine,
    settings: RestoreSettings,
    devices: list[str],
    progress: Callable[[Progress], None],
    **options: object,
) -> RestoreResult:
    """The one place a job's devices reach the engine.

    `devices[0]` is the engine's own; a split job passes them all and the engine spreads the
    work over one worker process per device (vividvr_engine.distributed). A one-device job
    passes none, so engines that never split need not know about devices.
    """
    if len(devices) > 1:
        options["devices"] = list(devices)
    return restore_clip(spec, engine, settings, progress, **options)  # type: ignore[arg-type]


class _Reporter:
    """Turns engine progress into stored events: throttled progress, and each newly finished
    stretch of frames as one segment event (never a frame twice, even across restarts)."""

    def __init__(self, core: JobCore, job: JobRow) -> None:
        self.core, self.job, self.plan = core, job, job.plan
        self.announced = job.frames_announced
        self.started = time.monotonic()
        self.start_fraction: float | None = None  # a resumed run starts part way
        self.last_progress = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        fraction = min(1.0, max(0.0, progress.fraction))
        if self.start_fraction is None:
            self.start_fraction = fraction
        if now - self.last_progress >= self.core.config.progress_interval_seconds:
            self.last_progress = now
            elapsed = now - self.started
            gained = fraction - self.start_fraction
            eta = elapsed * (1 - fraction) / gained if gained > 0.001 else -1.0
            event = pb.RestoreEvent(
                progress=pb.Progress(
                    phase=progress.phase,
                    window=progress.window,
                    windows=progress.windows,
                    step=progress.step,
                    steps=progress.steps,
                    frames_done=progress.frames_done,
                    frames_total=progress.frames_total,
                    fraction=fraction,
                    eta_seconds=eta,
                )
            )
            self.core.store.append(self.job.id, event)

    def segment(self, first_frame: int, last_frame: int, staged: list[str]) -> None:
        """A finished segment (source frames, inclusive); frames announced before are not repeated."""
        frames_done = last_frame - self.plan["first"] + 1
        if frames_done <= self.announced:
            return
        first = max(first_frame, self.plan["first"] + self.announced)
        event = pb.RestoreEvent(
            segment_written=pb.SegmentWritten(first_frame=first, last_frame=last_frame, staged_paths=staged)
        )
        self.core.store.append(self.job.id, event, frames_announced=frames_done)
        self.announced = frames_done
        if self.core.config.test_segment_delay_seconds:
            time.sleep(self.core.config.test_segment_delay_seconds)


class Worker(threading.Thread):
    """Runs jobs on one device, one at a time, keeping the last engine warm.

    A split job is run by the worker that claimed it, on its own device plus every other idle
    device; the workers of those devices sit out (`running_job` names the job) until it ends.
    """

    def __init__(self, core: JobCore, device: str, index: int = 0) -> None:
        super().__init__(name=f"worker-{index}-{device}", daemon=True)
        self.core, self.device = core, device
        self.engine: RestorationEngine | None = None
        self.engine_key: tuple | None = None
        self.idle_since = time.monotonic()
        self.running_job = ""

    def engine_for(self, plan: dict) -> RestorationEngine:
        """The warm engine when it has what this job needs loaded, else a freshly loaded one.

        Loaded models depend on the engine, checkpoints, device (which fixes the dtype) and
        offload mode only; seed, caption, steps, colour fix and the rest reach `restore` per job.
        """
        offload = plan["settings"].get("offload", "none")
        key = (plan["engine"], str(self.core.config.checkpoints), self.device, offload)
        if key != self.engine_key:
            self.unload()
            self.engine = create_engine(plan["engine"], self.core.config.checkpoints, self.device, offload=offload)
            self.engine_key = key
        assert self.engine is not None
        return self.engine

    def unload(self) -> None:
        if self.engine is not None:
            log.info("unloading %s from %s", self.engine_key[0] if self.engine_key else "?", self.device)
            self.engine, self.engine_key = None, None
            devs.release_cached_memory()

    def run(self) -> None:
        store = self.core.store
        while not self.core.stopping.is_set():
            with store.changed:
                version = store.version
            job, devices = self.core.claim(self)
            if job is None:
                if time.monotonic() - self.idle_since > self.core.config.idle_unload_seconds:
                    self.unload()
                with store.changed:
                    store.changed.wait_for(lambda v=version: store.version != v, timeout=1.0)
                continue
            try:
                self.core.run_job(job, self, devices)
            finally:
                self.core.release(job.id)


class JobCore:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.store = JobStore(config.data_dir / "jobs.sqlite3")
        self.devices = devs.resolve_devices(config.devices)
        self.stopping = threading.Event()
        self.workers: list[Worker] = []
        self._placing = threading.Lock()  # claiming a job and taking its devices is one step
        self._tokens: dict[str, CancelToken] = {}
        self._cancel_requested: set[str] = set()
        self._lock = threading.Lock()
        self.started_at = time.time()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        resumed = self.store.requeue(RESUMED_WARNING)
        if resumed:
            log.info("resuming %d interrupted job(s): %s", len(resumed), ", ".join(resumed))
        self.workers = [Worker(self, d, i) for i, d in enumerate(self.devices)]
        for worker in self.workers:
            worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Interrupt running jobs (they stay resumable) and wait for the workers."""
        self.stopping.set()
        with self._lock:
            for token in self._tokens.values():
                token.cancel()
        with self.store.changed:
            self.store.changed.notify_all()
        for worker in self.workers:
            worker.join(timeout)

    def close(self) -> None:
        """After `stop` and after the server has stopped calling in."""
        self.store.close()

    # ------------------------------------------------------------------ requests

    def submit(self, request: pb.RestoreRequest) -> tuple[str, int]:
        job_id = uuid.uuid4().hex[:12]
        plan, warnings, check = plan_job(request, job_id, self.config, probe, self._budget)
        if check.refusal:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED, check.refusal)
        if plan["output"] in self.store.active_outputs():
            raise RequestError(grpc.StatusCode.ALREADY_EXISTS, f"another queued job already writes {plan['output']}")
        event = self.store.add_job(job_id, request, plan, warnings)
        return job_id, event.queued.position

    def estimate(self, request: pb.RestoreRequest) -> pb.JobEstimate:
        """Every check `submit` makes, and the memory estimate, without queueing anything."""
        _plan, warnings, check = plan_job(request, "estimate", self.config, probe, self._budget)
        return check.proto(warnings)

    def _budget(self, split: bool) -> tuple[str, int]:
        """(device, bytes) a job must fit: the roomiest device for one-device jobs, the tightest
        for a split job (each of its devices holds a full copy); `memory_limit_gib` overrides."""
        totals = {d: devs.device_memory(d) for d in dict.fromkeys(self.devices)}
        device = (min if split else max)(totals, key=lambda d: totals[d].total)
        if self.config.memory_limit_gib is not None:
            return device, int(self.config.memory_limit_gib * memory.GIB)
        # The daemon owns a GPU: its whole memory is the budget. On the CPU, other programs count.
        return device, totals[device].total if device.startswith("cuda") else totals[device].free

    def cancel(self, job_id: str) -> JobRow:
        job = self.store.job(job_id)
        if job.state == pb.JOB_STATE_QUEUED:
            cancelled = pb.RestoreEvent(cancelled=pb.Cancelled(message="cancelled before it started"))
            if self.store.append_if_state(job_id, [pb.JOB_STATE_QUEUED], cancelled, finished=time.time()):
                return self.store.job(job_id)
        with self._lock:
            if self.store.job(job_id).state == pb.JOB_STATE_RUNNING:
                self._cancel_requested.add(job_id)  # seen by run_job even before its token exists
                if job_id in self._tokens:
                    self._tokens[job_id].cancel()
        return self.store.job(job_id)

    def watch(self, job_id: str, after_seq: int, is_active: Callable[[], bool]) -> Iterator[pb.RestoreEvent]:
        """Stored events after `after_seq`, then live ones, until the job ends or the caller leaves."""
        self.store.job(job_id)  # UnknownJob before the stream starts
        seq = after_seq
        store = self.store
        while is_active() and not self.stopping.is_set():
            with store.changed:
                version = store.version
            events = store.events_after(job_id, seq)
            for event in events:
                yield event
                seq = event.seq
                if event.WhichOneof("kind") in TERMINAL_EVENTS:
                    return
            if not events:
                with store.changed:
                    store.changed.wait_for(lambda v=version: store.version != v, timeout=1.0)

    # ------------------------------------------------------------------ running

    def claim(self, worker: Worker) -> tuple[JobRow | None, list[str]]:
        """The next queued job for `worker` and the devices it holds, or (None, []).

        A split job also takes every other idle device of the same kind (cpu or cuda).
        """
        with self._placing:
            if worker.running_job:  # holding a device for another worker's split job
                return None, []
            taken: list[Worker] = []

            def assign(job: JobRow) -> tuple[str, pb.RestoreEvent]:
                kind = worker.device.split(":")[0]
                if job.plan.get("split"):
                    taken.extend(
                        w for w in self.workers
                        if w is not worker and not w.running_job and w.device.split(":")[0] == kind
                    )
                devices = [worker.device, *(w.device for w in taken)]
                return ",".join(devices), self.started_event(job, devices)

            job = self.store.claim_next(assign)
            if job is None:
                return None, []
            for holder in (worker, *taken):
                holder.running_job = job.id
            return job, [worker.device, *(w.device for w in taken)]

    def release(self, job_id: str) -> None:
        """The job's devices are free again. Called before its last event is stored, so the
        waiters that event wakes find the devices idle."""
        with self._placing:
            for worker in self.workers:
                if worker.running_job == job_id:
                    worker.running_job = ""
                    worker.idle_since = time.monotonic()

    def started_event(self, job: JobRow, devices: list[str]) -> pb.RestoreEvent:
        return pb.RestoreEvent(
            started=pb.Started(
                device=devices[0],
                devices=devices,
                resumed=job.frames_announced > 0 or self.state_dir(job.id).exists(),
                first_frame=job.plan["first"],
                last_frame=job.plan["last"],
            )
        )

    def state_dir(self, job_id: str) -> Path:
        return self.config.data_dir / "jobs" / job_id

    def run_job(self, job: JobRow, worker: Worker, devices: list[str]) -> None:
        token = CancelToken()
        with self._lock:
            self._tokens[job.id] = token
            if job.id in self._cancel_requested:
                token.cancel()
        plan = job.plan
        log.info(
            "job %s started on %s: %s frames %d-%d -> %s",
            job.id,
            ", ".join(devices),
            plan["input"],
            plan["first"],
            plan["last"],
            plan["output"],
        )
        reporter = _Reporter(self, job)
        spec = RestoreJobSpec(
            input=plan["input"],
            output=plan["output"],
            frames=FrameRange(plan["first"], plan["last"]),
            format=plan["format"],
            overwrite=plan["overwrite"],
            ten_bit=plan["ten_bit"],
        )
        try:
            settings = RestoreSettings.from_dict(plan["settings"])
            for other in self.workers:  # a split job's workers load the models on the devices it took
                if other is not worker and other.running_job == job.id:
                    other.unload()
            engine = worker.engine_for(plan)
            state_dir = self.state_dir(job.id)
            state_dir.mkdir(parents=True, exist_ok=True)
            result = restore_on_devices(
                spec, engine, settings, devices, reporter,
                cancel=token, state_dir=state_dir, on_segment=reporter.segment,
            )
        except Cancelled:
            if self.stopping.is_set() and not self._user_cancelled(job.id):
                self._requeue(job.id, SHUTDOWN_WARNING)  # resumes when the daemon starts again
                return
            self._finish(job.id, pb.RestoreEvent(cancelled=pb.Cancelled(message="cancelled; no output was finished")))
        except Exception as exc:  # every failure, bugs included, must reach the client as an event
            code = error_code(exc)
            if code == pb.ERROR_CODE_INTERNAL:
                log.exception("job %s failed", job.id)
            message = str(exc) or type(exc).__name__
            if code == pb.ERROR_CODE_DEVICE_WORKER and self._retry_after_worker_death(job.id, message):
                return
            self._finish(job.id, pb.RestoreEvent(failed=pb.Failed(code=code, message=message)))
        else:
            # frames staged before a crash, but not yet announced, are announced now (no paths:
            # they are published under their final names in the Completed event)
            reporter.segment(plan["first"] + reporter.announced, plan["last"], [])
            self._finish(job.id, self.completed_event(job, result))
        finally:
            with self._lock:
                self._tokens.pop(job.id, None)
                self._cancel_requested.discard(job.id)

    def _retry_after_worker_death(self, job_id: str, error: str) -> bool:
        """Queue the job again (its saved steps kept) unless it has used up `worker_retries`.

        A worker lost to a driver reset or an OOM kill should not cost a night's render; one that
        dies every time must still end, so the retries are counted in the job's own history.
        """
        if self.stopping.is_set():  # the stop may have taken the worker down: resume at the next start
            self._requeue(job_id, SHUTDOWN_WARNING)
            return True
        retried = sum(
            1 for e in self.store.events_after(job_id, 0)
            if e.WhichOneof("kind") == "warning" and e.warning.message.startswith(WORKER_DIED)
        )
        if retried >= self.config.worker_retries:
            return False
        log.warning("job %s: engine worker died (%s); queued again (retry %d of %d)", job_id, error, retried + 1,
                    self.config.worker_retries)
        self._requeue(job_id, f"{WORKER_DIED} ({error}); the job is queued again and resumes from its last finished"
                              f" step (retry {retried + 1} of {self.config.worker_retries})")
        return True

    def _requeue(self, job_id: str, warning: str) -> None:
        """Free the job's devices and put it back in its place in the queue, its saved steps kept."""
        self.release(job_id)
        self.store.requeue(warning, job_id)

    def _user_cancelled(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancel_requested

    def _finish(self, job_id: str, event: pb.RestoreEvent) -> None:
        self.release(job_id)
        self.store.append(job_id, event, finished=time.time())
        log.info("job %s %s", job_id, event.WhichOneof("kind"))
        shutil.rmtree(self.state_dir(job_id), ignore_errors=True)

    def completed_event(self, job: JobRow, result: RestoreResult) -> pb.RestoreEvent:
        plan = job.plan
        request = job.request.source
        if request.WhichOneof("kind") == "otio_clip_json":
            source = otio_clip.parse_clip(request.otio_clip_json)
        else:
            source = otio_clip.media_clip(
                plan["name"],
                plan["input"],
                available_start=plan["available_start"],
                media_rate=plan["media_rate"],
                offset=plan["wanted_first"] - plan["base_frame"],
                count=plan["wanted_last"] - plan["wanted_first"] + 1,
            )
        clip_json = otio_clip.restored_clip_json(
            source,
            available_start=plan["available_start"],
            media_rate=plan["media_rate"],
            base_frame=plan["base_frame"],
            first_frame=result.frames.first,
            last_frame=result.frames.last,
            output=plan["output"],
            metadata={"job": job.id, "source_media": plan["input"], "engine": plan["engine"]},
        )
        return pb.RestoreEvent(
            completed=pb.Completed(
                otio_clip_json=clip_json,
                paths=result.outputs,
                first_frame=result.frames.first,
                last_frame=result.frames.last,
                width=result.width,
                height=result.height,
                seconds=result.seconds,
            )
        )

    # ------------------------------------------------------------------ reports

    def job_proto(self, job_id: str) -> pb.Job:
        job = self.store.job(job_id)
        msg = pb.Job(
            id=job.id,
            state=job.state,
            label=job.label,
            priority=job.priority,
            request=job.request,
            created_time=job.created,
            started_time=job.started,
            finished_time=job.finished,
            queue_position=self.store.queue_position(job.id),
            device=job.device.split(",")[0],
            devices=job.device.split(",") if job.device else [],
            first_frame=job.plan["first"],
            last_frame=job.plan["last"],
            output_path=job.plan["output"],
            last_seq=job.last_seq,
        )
        for kind in ("progress", "completed", "failed"):
            event = self.store.last_event(job.id, kind) if job.state != pb.JOB_STATE_QUEUED else None
            if event is not None and (kind != "progress" or job.state == pb.JOB_STATE_RUNNING):
                getattr(msg, kind).CopyFrom(getattr(event, kind))
        return msg

    def status(self) -> pb.ServerStatus:
        import psutil

        vm = psutil.virtual_memory()
        counts = self.store.counts()
        msg = pb.ServerStatus(
            version=__version__,
            host_memory_total_bytes=vm.total,
            host_memory_available_bytes=vm.available,
            jobs_queued=counts.get(pb.JOB_STATE_QUEUED, 0),
            jobs_running=counts.get(pb.JOB_STATE_RUNNING, 0),
            data_dir=str(self.config.data_dir),
            uptime_seconds=time.time() - self.started_at,
        )
        for worker in self.workers:
            mem = devs.device_memory(worker.device)
            msg.devices.add(
                name=worker.device,
                description=devs.describe(worker.device),
                memory_total_bytes=mem.total,
                memory_free_bytes=mem.free,
                running_job_id=worker.running_job,
            )
            if worker.engine_key is not None:
                idle = 0.0 if worker.running_job else time.monotonic() - worker.idle_since
                msg.loaded_models.add(engine=worker.engine_key[0], device=worker.device, idle_seconds=idle)
        return msg
