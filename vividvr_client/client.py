"""The one client of the VividVR daemon, shared by the CLI and the Resolve/Nuke plugins.

Imports only grpc and the generated stubs (never torch or the engine), so it loads inside a host
application's Python. `watch` survives daemon restarts: it re-attaches after the last event it
saw, so a job followed overnight is reported once per event even if the daemon was killed.

    client = DaemonClient("127.0.0.1:50777")
    job_id = client.submit(make_request("/media/plate.mov", "/renders", "{name}_restored.mov",
                                        engine="preview")).job_id
    for event in client.watch(job_id):
        print(describe(event))
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from vividvr_client.v1 import daemon_pb2 as pb
from vividvr_client.v1 import daemon_pb2_grpc as pb_grpc

DEFAULT_ADDRESS = "127.0.0.1:50777"
TERMINAL_EVENTS = ("completed", "failed", "cancelled")
RECONNECT_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)

__all__ = ["DEFAULT_ADDRESS", "DaemonClient", "DaemonError", "describe", "make_request", "pb"]


class DaemonError(RuntimeError):
    """A refused call, with the gRPC status name (e.g. PERMISSION_DENIED) and the daemon's message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{message} ({code.name})")
        self.code = code
        self.message = message


def _raise(error: grpc.RpcError) -> DaemonError:
    return DaemonError(error.code(), error.details() or str(error))


class DaemonClient:
    """Connection to one daemon; `token` and `root_certificate` for one listening beyond loopback."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        token: str | None = None,
        root_certificate: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        if root_certificate is not None:
            credentials = grpc.ssl_channel_credentials(root_certificate.read_bytes())
            self._channel = grpc.secure_channel(address, credentials)
        else:
            self._channel = grpc.insecure_channel(address)
        self._stub = pb_grpc.RestorerStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the daemon accepts connections (DaemonError UNAVAILABLE after `timeout`)."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise DaemonError(grpc.StatusCode.UNAVAILABLE, f"no daemon answers at {self.address}") from None

    def _call(self, method: str, request: object) -> object:
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise _raise(error) from None

    def submit(self, request: pb.RestoreRequest) -> pb.SubmitJobResponse:
        return self._call("SubmitJob", request)  # type: ignore[return-value]

    def get(self, job_id: str) -> pb.Job:
        return self._call("GetJob", pb.GetJobRequest(job_id=job_id))  # type: ignore[return-value]

    def jobs(self, states: list[int] | None = None, limit: int = 100) -> list[pb.Job]:
        response = self._call("ListJobs", pb.ListJobsRequest(states=states or [], limit=limit))
        return list(response.jobs)  # type: ignore[attr-defined]

    def cancel(self, job_id: str) -> pb.Job:
        return self._call("CancelJob", pb.CancelJobRequest(job_id=job_id))  # type: ignore[return-value]

    def status(self) -> pb.ServerStatus:
        return self._call("GetServerStatus", pb.GetServerStatusRequest())  # type: ignore[return-value]

    def restore(self, request: pb.RestoreRequest) -> Iterator[pb.RestoreEvent]:
        """Submit and follow in one stream (RestoreClip); the job id is on every event.

        If the daemon goes away after accepting the job, this re-attaches with `watch`.
        """
        job_id, seq, kind = "", 0, None
        try:
            for event in self._stub.RestoreClip(request, metadata=self._metadata):
                job_id, seq, kind = event.job_id, event.seq, event.WhichOneof("kind")
                yield event
        except grpc.RpcError as error:
            if not job_id or error.code() not in RECONNECT_CODES:
                raise _raise(error) from None
        if job_id and kind not in TERMINAL_EVENTS:
            yield from self.watch(job_id, seq)

    def watch(self, job_id: str, after_seq: int = 0, reconnect_for: float = 120.0) -> Iterator[pb.RestoreEvent]:
        """Events of a job until it ends, re-attaching (up to `reconnect_for` s) if the daemon goes away."""
        seq = after_seq
        lost_since: float | None = None
        while True:
            try:
                for event in self._stub.WatchJob(
                    pb.WatchJobRequest(job_id=job_id, after_seq=seq), metadata=self._metadata
                ):
                    lost_since = None
                    seq = event.seq
                    yield event
                    if event.WhichOneof("kind") in TERMINAL_EVENTS:
                        return
            except grpc.RpcError as error:
                if error.code() not in RECONNECT_CODES:
                    raise _raise(error) from None
            now = time.monotonic()
            lost_since = lost_since or now
            if now - lost_since > reconnect_for:
                raise DaemonError(grpc.StatusCode.UNAVAILABLE, f"lost the daemon at {self.address}")
            time.sleep(0.2)


def make_request(
    media: str,
    output_directory: str,
    name_template: str,
    *,
    otio_clip_json: str | None = None,
    frames: str = "",
    handles: tuple[int, int] = (0, 0),
    engine: str = "",
    settings: dict | None = None,
    output_format: str = "",
    overwrite: bool = False,
    ten_bit: bool = False,
    priority: int = 0,
    label: str = "",
    cancel_on_disconnect: bool = False,
) -> pb.RestoreRequest:
    """A RestoreRequest from plain values. `settings` uses RestoreSettings' names; None values are left unset."""
    source = pb.Source(handle_frames_before=handles[0], handle_frames_after=handles[1])
    if otio_clip_json is not None:
        source.otio_clip_json = otio_clip_json
    else:
        source.media_path, source.frames = media, frames
    engine_settings = pb.EngineSettings(engine=engine)
    for name, value in (settings or {}).items():
        if value is not None:
            setattr(engine_settings, name, value)
    return pb.RestoreRequest(
        source=source,
        output=pb.OutputSpec(
            directory=output_directory,
            name_template=name_template,
            format=output_format,
            overwrite=overwrite,
            ten_bit=ten_bit,
        ),
        settings=engine_settings,
        priority=priority,
        label=label,
        cancel_on_disconnect=cancel_on_disconnect,
    )


def describe(event: pb.RestoreEvent) -> str:
    """One line for a person: what this event says."""
    kind = event.WhichOneof("kind")
    body = getattr(event, kind) if kind else None
    if kind == "queued":
        return f"queued (position {body.position})"
    if kind == "started":
        resumed = ", resuming saved work" if body.resumed else ""
        return f"started on {body.device}: frames {body.first_frame}-{body.last_frame}{resumed}"
    if kind == "progress":
        eta = f", {body.eta_seconds:.0f} s left" if body.eta_seconds >= 0 else ""
        steps = f" step {body.step}/{body.steps}" if body.steps else ""
        return (
            f"{body.phase} window {body.window + 1}/{body.windows}{steps}: {body.fraction:.0%}"
            f" ({body.frames_done}/{body.frames_total} frames{eta})"
        )
    if kind == "segment_written":
        return f"frames {body.first_frame}-{body.last_frame} finished"
    if kind == "warning":
        return f"warning: {body.message}"
    if kind == "completed":
        return f"completed in {body.seconds:.1f} s: {', '.join(body.paths[:3])}{' ...' if len(body.paths) > 3 else ''}"
    if kind == "failed":
        return f"failed ({pb.ErrorCode.Name(body.code)}): {body.message}"
    if kind == "cancelled":
        return f"cancelled: {body.message}"
    return "unknown event"
