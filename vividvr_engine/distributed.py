"""Worker processes for one restoration spread over several devices (`torch.distributed`).

Rank 0 is the caller: it reads the clip, writes the sink and owns progress and cancellation.
`start_workers` spawns ranks 1..N-1 on a free loopback port (or joins a `torchrun` launch,
env:// rendezvous), and tears them down again however the job ends: a worker that dies fails
the job within seconds (its sockets close, or the collective timeout fires) and leaves no
process behind. What the workers compute is `pipeline.serve_job`; this module only moves bytes.

Step exchanges go over the default group (gloo on the CPU; NCCL for CUDA workers, whose buffers
are moved to the GPU for the transfer); objects and pixels always go over a gloo group.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from vividvr_engine.errors import Cancelled, SettingsError, VividVRError

log = logging.getLogger("vividvr.distributed")

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 300.0  # workers import torch and connect; loading models comes after
COLLECTIVE_TIMEOUT_S = 6 * 3600.0  # longest a worker waits for a slower one (a step of a 5B model)


class DistributedError(VividVRError):
    """Workers could not start, or one failed: the job stops; its finished steps stay resumable."""


# ------------------------------------------------------------------------------------ devices


def parse_devices(text: str) -> list[str]:
    """`cuda:0,cuda:1` or `cpu,cpu` -> validated device names (see `validate_devices`)."""
    return validate_devices([part.strip() for part in text.split(",") if part.strip()])


def validate_devices(devices: Sequence[str]) -> list[str]:
    """Each device must exist, GPUs at most once, all of one kind (results must not depend on it)."""
    if not devices:
        raise SettingsError("--devices needs at least one device, e.g. cuda:0,cuda:1 or cpu,cpu")
    parsed = []
    for name in devices:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise SettingsError(f"--devices: {name!r} is not a device; use cpu or cuda:N") from None
        if device.type not in ("cpu", "cuda"):
            raise SettingsError(f"--devices: {name!r} is not supported; use cpu or cuda:N")
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise SettingsError(f"--devices: {name} asked for, but this machine has no usable CUDA GPU")
            if device.index is None:
                raise SettingsError(f"--devices: say which GPU, e.g. cuda:0 instead of {name!r}")
            count = torch.cuda.device_count()
            if device.index >= count:
                raise SettingsError(
                    f"--devices: {name} does not exist; this machine has {count} GPU(s): cuda:0..cuda:{count - 1}"
                )
        parsed.append(str(device))
    if len({torch.device(d).type for d in parsed}) > 1:
        raise SettingsError("--devices: use either GPUs or CPUs, not both (bf16 and float32 would differ)")
    gpus = [d for d in parsed if d != "cpu"]
    repeated = sorted({d for d in gpus if gpus.count(d) > 1})
    if repeated:
        raise SettingsError(f"--devices: {', '.join(repeated)} listed more than once; give each GPU once")
    return parsed


def usable_devices(devices: Sequence[str], batches: int) -> list[str]:
    """At most one worker per batch of tiles; says so when some devices are left idle."""
    if len(devices) > batches:
        log.warning(
            "%d devices given but a step has only %d batch(es) of tiles: running %d worker(s) on %s",
            len(devices), batches, batches, ", ".join(devices[:batches]),
        )
        return list(devices[:batches])
    return list(devices)


def check_port_free(port: int) -> None:
    """Refuse a taken rendezvous port before anything heavy happens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            raise DistributedError(
                f"cannot start workers: port {port} on {HOST} is in use (another job's workers?); "
                "unset MASTER_PORT to pick a free port, or choose another"
            ) from None


def _rendezvous_port() -> int:
    if "MASTER_PORT" in os.environ:
        port = int(os.environ["MASTER_PORT"])
        check_port_free(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def launched_by_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ)


# --------------------------------------------------------------------------------------- comm


class Comm:
    """A single process: nothing to exchange."""

    rank = 0
    world = 1

    def __init__(self) -> None:
        self.step_bytes_sent = 0

    def broadcast(self, obj=None):
        return obj

    def any_from_root(self, flag: bool) -> bool:
        return flag

    def barrier(self) -> None:
        pass

    def send(self, destination: int, tensors: dict[str, torch.Tensor]) -> None:
        raise RuntimeError("a single process has no one to send to")

    def receive(self, source: int) -> dict[str, torch.Tensor]:
        raise RuntimeError("a single process has no one to receive from")

    def gather(self, obj) -> list:
        return [obj]

    def exchange(self, outgoing: dict[int, torch.Tensor], incoming: dict[int, int]) -> dict[int, torch.Tensor]:
        return {}


class TorchComm(Comm):
    """One rank of a `torch.distributed` job."""

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.device = device
        self.objects = dist.new_group(backend="gloo")

    def broadcast(self, obj=None):
        holder = [obj]
        dist.broadcast_object_list(holder, src=0, group=self.objects)
        return holder[0]

    def any_from_root(self, flag: bool) -> bool:
        return bool(self.broadcast(flag if self.rank == 0 else None))

    def barrier(self) -> None:
        dist.barrier(group=self.objects)

    def send(self, destination: int, tensors: dict[str, torch.Tensor]) -> None:
        """Tensors of any shape: a pickled header, then each tensor's raw bytes."""
        tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
        header = pickle.dumps({name: (tuple(t.shape), t.dtype) for name, t in tensors.items()})
        dist.send(torch.tensor([len(header)], dtype=torch.int64), destination, group=self.objects)
        dist.send(torch.frombuffer(bytearray(header), dtype=torch.uint8), destination, group=self.objects)
        for tensor in tensors.values():
            dist.send(tensor, destination, group=self.objects)

    def receive(self, source: int) -> dict[str, torch.Tensor]:
        length = torch.zeros(1, dtype=torch.int64)
        dist.recv(length, source, group=self.objects)
        raw = torch.empty(int(length), dtype=torch.uint8)
        dist.recv(raw, source, group=self.objects)
        received = {}
        for name, (shape, dtype) in pickle.loads(raw.numpy().tobytes()).items():
            received[name] = torch.empty(shape, dtype=dtype)
            dist.recv(received[name], source, group=self.objects)
        return received

    def gather(self, obj) -> list:
        everything: list = [None] * self.world
        dist.all_gather_object(everything, obj, group=self.objects)
        return everything

    def exchange(self, outgoing: dict[int, torch.Tensor], incoming: dict[int, int]) -> dict[int, torch.Tensor]:
        """Flat float32 buffers whose layout both sides know; all sends and receives at once."""
        device = self.device if self.device.type == "cuda" else torch.device("cpu")
        ops, received = [], {}
        for destination, buffer in outgoing.items():
            self.step_bytes_sent += buffer.numel() * buffer.element_size()
            ops.append(dist.P2POp(dist.isend, buffer.to(device), destination))
        for source, numel in incoming.items():
            received[source] = torch.empty(numel, dtype=torch.float32, device=device)
            ops.append(dist.P2POp(dist.irecv, received[source], source))
        if ops:
            for request in dist.batch_isend_irecv(ops):
                request.wait()
        return {source: buffer.cpu() for source, buffer in received.items()}


def _backend(device: torch.device) -> str:
    return "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"


def _init(device: torch.device, store, rank: int, world: int, threads: int) -> TorchComm:
    """`threads`: rank 0's intra-op thread count, on every CPU worker: CPU kernels split their sums
    by thread count, so fewer threads per worker would change the last bits of the result."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(threads)
    dist.init_process_group(
        _backend(device), store=store, rank=rank, world_size=world, timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S)
    )
    comm = TorchComm(device)
    comm.barrier()
    return comm


# ------------------------------------------------------------------------------------ workers


@dataclass(frozen=True)
class WorkerAddress:
    host: str
    port: int
    world: int


def _worker_main(rank: int, address: WorkerAddress, device: str, threads: int) -> None:
    """Entry point of a spawned worker: connect, then serve the one job rank 0 broadcasts."""
    store = dist.TCPStore(address.host, address.port, address.world, is_master=False,
                          timeout=timedelta(seconds=STARTUP_TIMEOUT_S))
    store.set(f"ready{rank}", "1")
    try:
        comm = _init(torch.device(device), store, rank, address.world, threads)
        from vividvr_engine.pipeline import serve_job

        serve_job(comm, device)
    except Cancelled:
        pass  # rank 0's caller cancelled; every rank stopped at the same point
    except BaseException as exc:
        with contextlib.suppress(Exception):  # rank 0 may be gone already; the exit code still tells
            store.set(f"error{rank}", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def serve_from_env(devices: Sequence[str]) -> None:
    """A non-zero rank under `torchrun`: rendezvous by env://, then serve rank 0's job."""
    local = int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    device = torch.device(devices[local] if local < len(devices) else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(_backend(device), init_method="env://", timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    try:
        comm = TorchComm(device)
        comm.barrier()
        from vividvr_engine.pipeline import serve_job

        serve_job(comm, str(device))
    finally:
        dist.destroy_process_group()


@contextmanager
def start_workers(devices: Sequence[str]) -> Iterator[Comm]:
    """Be rank 0 of a job on `devices` (devices[0] is this process's); stop every worker on exit."""
    if launched_by_torchrun():
        device = torch.device(devices[0])
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(_backend(device), init_method="env://",
                                timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))
        try:
            comm = TorchComm(device)
            comm.barrier()
            yield comm
        finally:
            dist.destroy_process_group()
        return
    world = len(devices)
    port = _rendezvous_port()
    try:
        store = dist.TCPStore(HOST, port, world, is_master=True, timeout=timedelta(seconds=STARTUP_TIMEOUT_S),
                              wait_for_workers=False)
    except (RuntimeError, OSError) as exc:
        raise DistributedError(f"cannot start workers on {HOST}:{port}: {exc}") from None
    context = _worker_context()
    address = WorkerAddress(HOST, port, world)
    workers = [
        context.Process(target=_worker_main, args=(rank, address, devices[rank], torch.get_num_threads()), daemon=True,
                        name=f"vividvr-worker-{rank}")
        for rank in range(1, world)
    ]
    for worker in workers:
        worker.start()
    try:
        _wait_until_ready(store, workers)
        comm = _init(torch.device(devices[0]), store, 0, world, torch.get_num_threads())
        try:
            yield comm
        except Cancelled:
            raise
        except Exception as exc:
            failed = _failures(store, workers)
            if failed:
                raise DistributedError(
                    f"{failed}; the job stopped and resumes from its last finished step when run again"
                ) from exc
            raise
        finally:
            dist.destroy_process_group()
    finally:
        _stop(workers)


def _worker_context():
    """Fork workers from a clean server process that has imported the engine once (CUDA untouched
    there), so a job's workers start in a moment instead of each importing torch anew."""
    context = torch.multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["vividvr_engine.pipeline"])
    return context


def _wait_until_ready(store, workers) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    keys = [f"ready{rank}" for rank in range(1, len(workers) + 1)]
    while not store.check(keys):
        dead = [w for w in workers if w.exitcode is not None]
        if dead:
            raise DistributedError(f"worker {dead[0].name} exited with code {dead[0].exitcode} while starting")
        if time.monotonic() > deadline:
            raise DistributedError(f"workers did not start within {STARTUP_TIMEOUT_S:.0f} s")
        time.sleep(0.05)


def _failures(store, workers, grace_s: float = 5.0) -> str:
    """What went wrong on the workers, once they have had a moment to report or exit."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and all(w.exitcode is None for w in workers):
        time.sleep(0.05)
    reasons = []
    for rank, worker in enumerate(workers, start=1):
        if store.check([f"error{rank}"]):
            reasons.append(f"worker {rank} failed: {store.get(f'error{rank}').decode()}")
        elif worker.exitcode not in (None, 0):
            reasons.append(f"worker {rank} died (exit code {worker.exitcode})")
    return "; ".join(reasons)


def _stop(workers, grace_s: float = 10.0) -> None:
    deadline = time.monotonic() + grace_s
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
            worker.join(2.0)
        if worker.is_alive():
            worker.kill()
            worker.join()
