"""`vividvr daemon start|stop|status`, `vividvr submit`, `watch`, `jobs`, `cancel`.

The client commands talk to a daemon through `vividvr_client.client` (the same module the
plugins use). `submit` takes exactly `vividvr restore`'s flags; the few that cannot travel to a
daemon (local state folders, OCIO configs, timecode in/out) are refused with a clear message.
`restore_through_daemon` is what `vividvr restore --daemon HOST:PORT` runs.

Exit codes: 0 done, 1 failed or cancelled (or no daemon), 2 the daemon refused the request.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from google.protobuf import json_format

from vividvr_client.client import DEFAULT_ADDRESS, DaemonClient, DaemonError, describe, make_request, pb

EXIT_OK, EXIT_FAILURE, EXIT_REFUSED = 0, 1, 2
ADDRESS_ENV = "VIVIDVR_DAEMON"
TOKEN_FILE_ENV = "VIVIDVR_DAEMON_TOKEN_FILE"
OTIO_SUFFIXES = (".otio", ".json")
# restore flags (argparse dest) that name things on the submitting machine, not the daemon's
LOCAL_ONLY_FLAGS = {
    "tc_in": "--in/--out",
    "tc_out": "--in/--out",
    "state_dir": "--state-dir (the daemon keeps its own state)",
    "ocio_config": "--ocio-config",
    "input_space": "--input-space",
    "working_space": "--working-space",
    "checkpoints": "--checkpoints (set checkpoints in the daemon config)",
    "device": "--device (the daemon owns its devices)",
    "devices": "--devices (the daemon owns its devices)",
    "batch_tiles": "--batch-tiles",
}
STATE_NAMES = {
    "queued": pb.JOB_STATE_QUEUED,
    "running": pb.JOB_STATE_RUNNING,
    "completed": pb.JOB_STATE_COMPLETED,
    "failed": pb.JOB_STATE_FAILED,
    "cancelled": pb.JOB_STATE_CANCELLED,
}


# ------------------------------------------------------------------------------------ parsers


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--daemon",
        metavar="HOST:PORT",
        default=os.environ.get(ADDRESS_ENV, DEFAULT_ADDRESS),
        help=f"daemon address (default ${ADDRESS_ENV} or {DEFAULT_ADDRESS}; unix:PATH for a socket)",
    )
    parser.add_argument("--token-file", type=Path, default=os.environ.get(TOKEN_FILE_ENV), help="bearer token file")
    parser.add_argument("--tls-ca", type=Path, metavar="PEM", help="CA certificate of a TLS daemon")


def _restore_flags() -> argparse.ArgumentParser:
    """`vividvr restore`'s own parser, reused as a parent so `submit` takes exactly its flags."""
    from vividvr_cli import restore_command

    holder = argparse.ArgumentParser(add_help=False).add_subparsers()
    restore_command.register(holder)
    return holder.choices["restore"]


def register(subparsers: argparse._SubParsersAction) -> None:
    daemon = subparsers.add_parser("daemon", help="run the restoration daemon (start, stop, status)")
    actions = daemon.add_subparsers(dest="daemon_action", metavar="ACTION", required=True)

    start = actions.add_parser("start", help="start the daemon (in the background unless --foreground)")
    start.add_argument("--foreground", action="store_true", help="run in this process; Ctrl-C stops it")
    start.add_argument("--config", type=Path, help="config file (default: daemon.toml in the user config folder)")
    start.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (default 127.0.0.1:50777)")
    start.add_argument("--data-dir", type=Path, metavar="DIR", help="job store and resumable state")
    start.add_argument("--log-dir", type=Path, metavar="DIR", help="where daemon.log goes")
    start.add_argument("--media-root", type=Path, action="append", metavar="DIR", help="readable folder (repeat)")
    start.add_argument("--output-root", type=Path, action="append", metavar="DIR", help="writable folder (repeat)")
    start.add_argument("--device", action="append", metavar="NAME", help="cuda:0, cpu or auto (repeat)")
    start.add_argument("--checkpoints", type=Path, metavar="DIR", help="checkpoint folder for the vividvr engine")
    start.add_argument("--memory-limit-gib", type=float, metavar="GIB", help="memory budget per device")
    start.set_defaults(run=run_start)

    stop = actions.add_parser("stop", help="stop the daemon; running jobs resume at the next start")
    stop.add_argument("--config", type=Path)
    stop.add_argument("--data-dir", type=Path, metavar="DIR")
    stop.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for it to exit")
    stop.set_defaults(run=run_stop)

    status = actions.add_parser("status", help="is the daemon up; devices, models, memory, queue")
    _connection_flags(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=run_status)

    submit = subparsers.add_parser(
        "submit",
        parents=[_restore_flags()],
        conflict_handler="resolve",
        help="queue a restoration on the daemon; prints the job id",
        description="Queue INPUT (a movie, a sequence pattern, or an OTIO clip .otio/.json) on the daemon."
        " Takes vividvr restore's flags. The job id is printed alone on the last line.",
    )
    _connection_flags(submit)
    submit.add_argument("--handles", type=int, nargs=2, default=(0, 0), metavar=("BEFORE", "AFTER"))
    submit.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    submit.add_argument("--label", default="", help="shown in `vividvr jobs`")
    submit.set_defaults(run=run_submit)

    watch = subparsers.add_parser("watch", help="follow a job; exit 0 when it completes, 1 if it fails")
    watch.add_argument("job", metavar="JOB")
    _connection_flags(watch)
    watch.add_argument("--json", action="store_true", help="one JSON event per line")
    watch.set_defaults(run=run_watch)

    jobs = subparsers.add_parser("jobs", help="list the daemon's jobs, newest first")
    _connection_flags(jobs)
    jobs.add_argument("--state", choices=sorted(STATE_NAMES), action="append", help="only these states (repeat)")
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(run=run_jobs)

    cancel = subparsers.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("job", metavar="JOB")
    _connection_flags(cancel)
    cancel.set_defaults(run=run_cancel)


# ------------------------------------------------------------------------------------ daemon


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from vividvr_daemon.config import load_config

    overrides = {
        "listen": getattr(args, "listen", None),
        "data_dir": args.data_dir,
        "log_dir": getattr(args, "log_dir", None),
        "media_roots": getattr(args, "media_root", None),
        "output_roots": getattr(args, "output_root", None),
        "devices": getattr(args, "device", None),
        "checkpoints": getattr(args, "checkpoints", None),
        "memory_limit_gib": getattr(args, "memory_limit_gib", None),
    }
    return load_config(args.config, overrides)


def _start_argv(args: argparse.Namespace) -> list[str]:
    """The same start command, in the foreground, for the background child."""
    argv = ["daemon", "start", "--foreground"]
    for flag, value in (
        ("--config", args.config),
        ("--listen", args.listen),
        ("--data-dir", args.data_dir),
        ("--log-dir", args.log_dir),
        ("--checkpoints", args.checkpoints),
        ("--memory-limit-gib", args.memory_limit_gib),
    ):
        if value is not None:
            argv += [flag, str(value)]
    for flag, values in (("--media-root", args.media_root), ("--output-root", args.output_root),
                         ("--device", args.device)):
        for value in values or ():
            argv += [flag, str(value)]
    return argv


def run_start(args: argparse.Namespace) -> int:
    from vividvr_daemon.config import ConfigError

    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    config.log_dir.mkdir(parents=True, exist_ok=True)
    if args.foreground:
        from vividvr_daemon.server import DaemonAlreadyRunning, serve

        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            handlers=[logging.StreamHandler(sys.stderr), logging.FileHandler(config.log_file)],
        )
        try:
            return serve(config)
        except (DaemonAlreadyRunning, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    config.pid_file.unlink(missing_ok=True)
    with open(config.log_file, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "vividvr_cli.main", *_start_argv(args)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if child.poll() is not None:
            print(f"error: the daemon exited (code {child.returncode}); see {config.log_file}", file=sys.stderr)
            return EXIT_FAILURE
        if config.pid_file.exists():
            info = json.loads(config.pid_file.read_text())
            if info.get("pid") == child.pid:
                print(f"vividvr daemon (pid {child.pid}) listening on {info['address']}; log: {config.log_file}")
                return EXIT_OK
        time.sleep(0.2)
    print(f"error: the daemon did not come up within 120 s; see {config.log_file}", file=sys.stderr)
    return EXIT_FAILURE


def run_stop(args: argparse.Namespace) -> int:
    config = _config(args)
    try:
        info = json.loads(config.pid_file.read_text())
    except FileNotFoundError:
        print(f"no daemon is running for {config.data_dir}", file=sys.stderr)
        return EXIT_FAILURE
    pid = int(info["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        config.pid_file.unlink(missing_ok=True)
        print(f"daemon pid {pid} was not running (stale pid file removed)", file=sys.stderr)
        return EXIT_OK
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not config.pid_file.exists():
            print(f"vividvr daemon (pid {pid}) stopped")
            return EXIT_OK
        time.sleep(0.2)
    print(f"error: daemon pid {pid} did not stop within {args.timeout:.0f} s", file=sys.stderr)
    return EXIT_FAILURE


# ------------------------------------------------------------------------------------ client


def _client(args: argparse.Namespace) -> DaemonClient:
    """Works for `vividvr restore --daemon` too, whose parser has no token or TLS flags."""
    token_file = getattr(args, "token_file", None) or os.environ.get(TOKEN_FILE_ENV)
    token = Path(token_file).read_text().strip() if token_file else None
    return DaemonClient(args.daemon, token=token, root_certificate=getattr(args, "tls_ca", None))


def _refused(exc: DaemonError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_FAILURE if exc.code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL") else EXIT_REFUSED


def run_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        try:
            status = client.status()
        except DaemonError as exc:
            return _refused(exc)
    if args.json:
        print(json_format.MessageToJson(status))
        return EXIT_OK
    gib = 1024**3
    print(f"vividvr daemon {status.version} at {args.daemon}, up {status.uptime_seconds:.0f} s, data {status.data_dir}")
    print(f"jobs: {status.jobs_queued} queued, {status.jobs_running} running")
    print(f"host memory: {status.host_memory_available_bytes / gib:.1f} of {status.host_memory_total_bytes / gib:.1f}"
          " GiB free")
    for device in status.devices:
        job = f", running {device.running_job_id}" if device.running_job_id else ""
        print(f"device {device.name} ({device.description}): {device.memory_free_bytes / gib:.1f} of"
              f" {device.memory_total_bytes / gib:.1f} GiB free{job}")
    for model in status.loaded_models:
        print(f"loaded: {model.engine} on {model.device}, idle {model.idle_seconds:.0f} s")
    return EXIT_OK


def request_from_args(args: argparse.Namespace) -> pb.RestoreRequest:
    """A RestoreRequest from `vividvr restore`-style arguments (ValueError for flags that cannot travel)."""
    from vividvr_cli.restore_command import SETTING_FLAGS

    local = sorted({label for dest, label in LOCAL_ONLY_FLAGS.items() if getattr(args, dest, None) is not None})
    if local:
        raise ValueError(f"not available through the daemon: {', '.join(local)}")
    output = os.path.abspath(args.output)
    escaped_name = os.path.basename(output).replace("{", "{{").replace("}", "}}")
    source = os.path.abspath(args.input)
    otio_json = Path(source).read_text() if source.lower().endswith(OTIO_SUFFIXES) else None
    if otio_json is not None and args.frames:
        raise ValueError("--frames does not apply to an OTIO clip: its source range says which frames")
    return make_request(
        source,
        os.path.dirname(output),
        escaped_name,
        otio_clip_json=otio_json,
        frames=args.frames or "",
        handles=tuple(getattr(args, "handles", (0, 0))),
        engine=args.engine,
        settings={field: getattr(args, flag) for flag, field in SETTING_FLAGS.items()},
        output_format=args.format or "",
        overwrite=args.overwrite,
        ten_bit=args.bit_depth == 10,
        priority=getattr(args, "priority", 0),
        label=getattr(args, "label", "") or os.path.basename(args.input),
    )


def run_submit(args: argparse.Namespace) -> int:
    try:
        request = request_from_args(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    with _client(args) as client:
        try:
            response = client.submit(request)
        except DaemonError as exc:
            return _refused(exc)
    print(f"queued at position {response.queue_position}; follow it with: vividvr watch {response.job_id}",
          file=sys.stderr)
    print(response.job_id)
    return EXIT_OK


def _follow(events, as_json: bool) -> int:  # type: ignore[no-untyped-def]
    """Print events until the job ends; the exit code says how it ended."""
    for event in events:
        if as_json:
            print(json_format.MessageToJson(event, indent=None), flush=True)
        else:
            print(f"[{event.job_id}] {describe(event)}", file=sys.stderr, flush=True)
        kind = event.WhichOneof("kind")
        if kind == "completed":
            return EXIT_OK
        if kind in ("failed", "cancelled"):
            return EXIT_FAILURE
    return EXIT_FAILURE


def run_watch(args: argparse.Namespace) -> int:
    with _client(args) as client:
        try:
            return _follow(client.watch(args.job), args.json)
        except DaemonError as exc:
            return _refused(exc)


def restore_through_daemon(args: argparse.Namespace) -> int:
    """`vividvr restore ... --daemon HOST:PORT`: the daemon restores, this process reports."""
    try:
        request = request_from_args(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    with _client(args) as client:
        try:
            return _follow(client.restore(request), getattr(args, "json", False))
        except DaemonError as exc:
            return _refused(exc)


def run_jobs(args: argparse.Namespace) -> int:
    states = [STATE_NAMES[s] for s in args.state or ()]
    with _client(args) as client:
        try:
            jobs = client.jobs(states, args.limit)
        except DaemonError as exc:
            return _refused(exc)
    if args.json:
        for job in jobs:
            print(json_format.MessageToJson(job, indent=None))
        return EXIT_OK
    for job in jobs:
        state = pb.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()
        detail = ""
        if job.state == pb.JOB_STATE_QUEUED:
            detail = f"position {job.queue_position}"
        elif job.state == pb.JOB_STATE_RUNNING:
            detail = f"{job.progress.fraction:.0%} on {job.device}"
        elif job.state == pb.JOB_STATE_FAILED:
            detail = job.failed.message
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(job.created_time))
        print(f"{job.id}  {state:<9}  {when}  {job.label or '-'}  frames {job.first_frame}-{job.last_frame}"
              f"  -> {job.output_path}  {detail}".rstrip())
    return EXIT_OK


def run_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        try:
            job = client.cancel(args.job)
        except DaemonError as exc:
            return _refused(exc)
    print(f"{job.id}: {pb.JobState.Name(job.state).removeprefix('JOB_STATE_').lower()}"
          + (" (stopping)" if job.state == pb.JOB_STATE_RUNNING else ""))
    return EXIT_OK
