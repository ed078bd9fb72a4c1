"""The gRPC server: thin servicers over the job core, plus health, reflection, TLS and tokens.

Run it with `vividvr daemon start` (see docs/daemon.md). `serve()` blocks until SIGTERM/SIGINT;
a graceful stop interrupts running jobs, which resume on the next start.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import inspect
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vividvr_client.v1 import daemon_pb2 as pb
from vividvr_client.v1 import daemon_pb2_grpc as pb_grpc
from vividvr_daemon.admission import RequestError
from vividvr_daemon.config import DaemonConfig
from vividvr_daemon.core import JobCore
from vividvr_daemon.store import UnknownJob

log = logging.getLogger("vividvr.daemon")
SERVICE = pb.DESCRIPTOR.services_by_name["Restorer"].full_name
MAX_ID = 64
MAX_LIST = 1000


class DaemonAlreadyRunning(RuntimeError):
    pass


def _refuse(context: grpc.ServicerContext, exc: RequestError | UnknownJob) -> None:
    if isinstance(exc, RequestError):
        context.abort(exc.code, exc.message)
    context.abort(grpc.StatusCode.NOT_FOUND, f"no job {exc.args[0]!r}")


def _abort_on_errors(method: Callable) -> Callable:
    """Map the core's refusals to gRPC statuses; the servicer methods stay one-liners."""

    def call(self: RestorerServicer, request, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        try:
            return method(self, request, context)
        except (RequestError, UnknownJob) as exc:
            _refuse(context, exc)

    def stream(self: RestorerServicer, request, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        try:
            yield from method(self, request, context)
        except (RequestError, UnknownJob) as exc:
            _refuse(context, exc)

    wrapper = stream if inspect.isgeneratorfunction(method) else call
    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


def _job_id(job_id: str) -> str:
    if not job_id or len(job_id) > MAX_ID:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "a job id is 1 to 64 characters")
    return job_id


class RestorerServicer(pb_grpc.RestorerServicer):
    def __init__(self, core: JobCore) -> None:
        self.core = core

    @_abort_on_errors
    def RestoreClip(self, request: pb.RestoreRequest, context: grpc.ServicerContext) -> Iterator[pb.RestoreEvent]:
        job_id, _ = self.core.submit(request)
        if request.cancel_on_disconnect:
            context.add_callback(lambda: self.core.cancel(job_id))  # a no-op once the job has ended
        yield from self.core.watch(job_id, 0, context.is_active)

    @_abort_on_errors
    def SubmitJob(self, request: pb.RestoreRequest, context: grpc.ServicerContext) -> pb.SubmitJobResponse:
        job_id, position = self.core.submit(request)
        return pb.SubmitJobResponse(job_id=job_id, queue_position=position)

    @_abort_on_errors
    def WatchJob(self, request: pb.WatchJobRequest, context: grpc.ServicerContext) -> Iterator[pb.RestoreEvent]:
        yield from self.core.watch(_job_id(request.job_id), request.after_seq, context.is_active)

    @_abort_on_errors
    def GetJob(self, request: pb.GetJobRequest, context: grpc.ServicerContext) -> pb.Job:
        return self.core.job_proto(_job_id(request.job_id))

    @_abort_on_errors
    def ListJobs(self, request: pb.ListJobsRequest, context: grpc.ServicerContext) -> pb.ListJobsResponse:
        limit = min(request.limit or 100, MAX_LIST)
        rows = self.core.store.jobs(request.states, limit)
        return pb.ListJobsResponse(jobs=[self.core.job_proto(r.id) for r in rows])

    @_abort_on_errors
    def CancelJob(self, request: pb.CancelJobRequest, context: grpc.ServicerContext) -> pb.Job:
        self.core.cancel(_job_id(request.job_id))
        return self.core.job_proto(request.job_id)

    @_abort_on_errors
    def GetServerStatus(self, request: pb.GetServerStatusRequest, context: grpc.ServicerContext) -> pb.ServerStatus:
        return self.core.status()


class _TokenInterceptor(grpc.ServerInterceptor):
    """Every call except health checks carries `authorization: Bearer <token>`."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}"

        def deny(request, context):  # type: ignore[no-untyped-def]
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token (authorization: Bearer ...)")

        self._deny_unary = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.unary_stream_rpc_method_handler(deny)

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        if handler_call_details.method.startswith("/grpc.health."):
            return continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        if hmac.compare_digest(metadata.get("authorization", ""), self._expected):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        return self._deny_stream if handler is not None and handler.response_streaming else self._deny_unary


class Daemon:
    """A started server: its bound address, its core, and a way to stop both."""

    def __init__(self, config: DaemonConfig) -> None:
        config.validate()
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(config.data_dir / "daemon.lock", "w")  # noqa: SIM115 - held for the daemon's life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise DaemonAlreadyRunning(f"another daemon is using {config.data_dir}") from None
        self.core = JobCore(config)
        token = config.token
        options = [
            ("grpc.max_receive_message_length", config.max_request_bytes),
            ("grpc.max_concurrent_streams", config.max_streams),
            ("grpc.so_reuseport", 0),
        ]
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.max_streams + 8, thread_name_prefix="rpc"),
            interceptors=[_TokenInterceptor(token)] if token else [],
            options=options,
            maximum_concurrent_rpcs=config.max_streams,
        )
        pb_grpc.add_RestorerServicer_to_server(RestorerServicer(self.core), self.server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self.server,
        )
        self.address = self._bind()
        self._stopped = threading.Event()

    def _bind(self) -> str:
        listen = self.config.listen
        if self.config.tls_cert is not None and self.config.tls_key is not None:
            credentials = grpc.ssl_server_credentials(
                [(self.config.tls_key.read_bytes(), self.config.tls_cert.read_bytes())]
            )
            port = self.server.add_secure_port(listen, credentials)
        else:
            port = self.server.add_insecure_port(listen)
        if listen.startswith("unix:"):
            return listen
        if port == 0:
            raise OSError(f"cannot listen on {listen} (address in use or not available)")
        return f"{listen.rpartition(':')[0]}:{port}"

    def start(self) -> None:
        self.core.start()
        self.server.start()
        for name in ("", SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.config.pid_file.write_text(json.dumps({"pid": os.getpid(), "address": self.address}))
        log.info("vividvr daemon listening on %s (data %s, devices %s)", self.address, self.config.data_dir,
                 ", ".join(self.core.devices))

    def stop(self, grace: float = 5.0) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        self.core.stop()
        self.server.stop(grace).wait()
        self.core.close()
        with contextlib.suppress(FileNotFoundError):
            self.config.pid_file.unlink()
        self._lock_file.close()
        log.info("vividvr daemon stopped")

    def wait(self) -> None:
        self.server.wait_for_termination()


def serve(config: DaemonConfig) -> int:
    """Run in the foreground until SIGTERM or SIGINT."""
    daemon = Daemon(config)
    daemon.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"vividvr daemon listening on {daemon.address}", flush=True)
    stop.wait()
    daemon.stop()
    return 0
