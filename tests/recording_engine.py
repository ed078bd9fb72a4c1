"""A preview engine that records which devices each job was given: the daemon's scheduling
tests register it under the name "recording" (tests only; the registry holds real engines)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from vividvr_engine.preview import PreviewEngine

CALLS: list[tuple[str, ...]] = []  # the devices of each restore, in call order
LOCK = threading.Lock()


class RecordingEngine(PreviewEngine):
    name = "recording"

    def restore(self, *args, devices: Sequence[str] | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        with LOCK:
            CALLS.append(tuple(devices or ()))
        super().restore(*args, **kwargs)


class WorkerDiesEngine(PreviewEngine):
    """Fails the way a split job does when one of its worker processes dies."""

    name = "worker-dies"

    def restore(self, *args, devices: Sequence[str] | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        from vividvr_engine.distributed import DistributedError

        raise DistributedError(f"worker 1 on {devices[1] if devices else '?'} exited with code -9")


class WorkerDiesOnceEngine(PreviewEngine):
    """A split job whose worker dies the first time it runs, and which then runs normally."""

    name = "worker-dies-once"
    runs = 0

    def restore(self, *args, devices: Sequence[str] | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        from vividvr_engine.distributed import DistributedError

        with LOCK:
            WorkerDiesOnceEngine.runs += 1
            first = WorkerDiesOnceEngine.runs == 1
            CALLS.append(tuple(devices or ()))
        if first:
            raise DistributedError(f"worker 1 on {devices[1] if devices else '?'} exited with code -9")
        super().restore(*args, **kwargs)
