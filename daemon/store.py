"""The job store: SQLite in WAL mode, the daemon's only memory that survives a crash.

Every event is written (with the job's new state) in one transaction before anyone is told, so a
watcher never sees something a restarted daemon would not remember. Watchers read events back
from here by sequence number: a re-attaching client gets exactly the stored history. Progress
events are the exception to "keep everything": only the newest is kept, as each supersedes the
last.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from vividvr_client.v1 import daemon_pb2 as pb

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    priority INTEGER NOT NULL,
    label TEXT NOT NULL,
    state INTEGER NOT NULL,
    request BLOB NOT NULL,          -- RestoreRequest as submitted
    plan TEXT NOT NULL,             -- the resolved job (JSON): paths, frames, settings
    device TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL DEFAULT 0,
    finished REAL NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0,
    frames_announced INTEGER NOT NULL DEFAULT 0  -- frames already reported in segment events
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, priority DESC, created);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,             -- RestoreEvent
    PRIMARY KEY (job_id, seq)
);
"""

STATE_AFTER = {
    "queued": pb.JOB_STATE_QUEUED,
    "started": pb.JOB_STATE_RUNNING,
    "completed": pb.JOB_STATE_COMPLETED,
    "failed": pb.JOB_STATE_FAILED,
    "cancelled": pb.JOB_STATE_CANCELLED,
}
T = TypeVar("T")
TERMINAL = frozenset({pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED})


class UnknownJob(KeyError):
    pass


@dataclass(frozen=True)
class JobRow:
    id: str
    created: float
    priority: int
    label: str
    state: int
    request: pb.RestoreRequest
    plan: dict
    device: str
    started: float
    finished: float
    last_seq: int
    frames_announced: int


class JobStore:
    """Thread-safe; `changed` is notified after every committed event."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # survive power loss, not just kill -9
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.changed = threading.Condition()
        self.version = 0  # bumped under `changed` after each commit; waiters compare it

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ writes

    def _append(self, job_id: str, event: pb.RestoreEvent, columns: dict) -> pb.RestoreEvent:
        """Inside a transaction: store `event` as the job's next one and apply its state change."""
        row = self._db.execute("SELECT last_seq FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise UnknownJob(job_id)
        kind = event.WhichOneof("kind")
        event.job_id, event.seq, event.time = job_id, row[0] + 1, time.time()
        if kind == "progress":
            self._db.execute("DELETE FROM events WHERE job_id = ? AND kind = 'progress'", (job_id,))
        self._db.execute(
            "INSERT INTO events (job_id, seq, kind, body) VALUES (?, ?, ?, ?)",
            (job_id, event.seq, kind, event.SerializeToString()),
        )
        columns = dict(columns, last_seq=event.seq)
        if kind in STATE_AFTER:
            columns["state"] = STATE_AFTER[kind]
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self._db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*columns.values(), job_id))
        return event

    def _transaction(self, work: Callable[[], T]) -> T:
        """Run `work` in one transaction; wake waiters only if it wrote something.

        (Waking them on empty transactions would make an idle worker's poll wake itself: a spin.)
        """
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            wrote = self._db.total_changes != before
        if wrote:
            with self.changed:
                self.version += 1
                self.changed.notify_all()
        return result

    def add_job(
        self, job_id: str, request: pb.RestoreRequest, plan: dict, warnings: Iterable[str] = ()
    ) -> pb.RestoreEvent:
        """Store a new queued job, its Queued event (with its queue position) and any warnings."""

        def work() -> pb.RestoreEvent:
            (ahead,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state = ? AND priority >= ?", (pb.JOB_STATE_QUEUED, request.priority)
            ).fetchone()
            self._db.execute(
                "INSERT INTO jobs (id, created, priority, label, state, request, plan)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    time.time(),
                    request.priority,
                    request.label,
                    pb.JOB_STATE_QUEUED,
                    request.SerializeToString(),
                    json.dumps(plan),
                ),
            )
            queued = self._append(job_id, pb.RestoreEvent(queued=pb.Queued(position=ahead)), {})
            for message in warnings:
                self._append(job_id, pb.RestoreEvent(warning=pb.Warning(message=message)), {})
            return queued

        return self._transaction(work)

    def append(self, job_id: str, event: pb.RestoreEvent, **columns: object) -> pb.RestoreEvent:
        return self._transaction(lambda: self._append(job_id, event, columns))

    def append_if_state(
        self, job_id: str, states: Iterable[int], event: pb.RestoreEvent, **columns: object
    ) -> pb.RestoreEvent | None:
        """Append only while the job is in one of `states` (checked in the same transaction)."""
        allowed = set(states)

        def work() -> pb.RestoreEvent | None:
            row = self._db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise UnknownJob(job_id)
            return self._append(job_id, event, columns) if row[0] in allowed else None

        return self._transaction(work)

    def claim_next(self, device: str, started_event: Callable[[JobRow, str], pb.RestoreEvent]) -> JobRow | None:
        """Atomically take the highest-priority, oldest queued job and mark it running on `device`.

        `started_event(row, device)` builds the Started event for the claimed row.
        """

        def work() -> JobRow | None:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state = ? ORDER BY priority DESC, created, rowid LIMIT 1",
                (pb.JOB_STATE_QUEUED,),
            ).fetchone()
            if row is None:
                return None
            job = _row(row)
            self._append(job.id, started_event(job, device), {"device": device, "started": time.time()})
            return job

        return self._transaction(work)

    def requeue(self, warning: str, job_id: str | None = None) -> list[str]:
        """Put running jobs (all, or `job_id`) back in the queue, keeping their original place.

        Used at start-up for jobs a crash interrupted, and at shutdown for jobs it interrupts.
        """

        def work() -> list[str]:
            ids = [r[0] for r in self._db.execute("SELECT id FROM jobs WHERE state = ?", (pb.JOB_STATE_RUNNING,))]
            ids = [i for i in ids if job_id in (None, i)]
            for running in ids:
                self._append(running, pb.RestoreEvent(warning=pb.Warning(message=warning)), {})
                self._append(running, pb.RestoreEvent(queued=pb.Queued(position=0)), {})
            return ids

        return self._transaction(work)

    # ------------------------------------------------------------------ reads

    def job(self, job_id: str) -> JobRow:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise UnknownJob(job_id)
        return _row(row)

    def jobs(self, states: Iterable[int] = (), limit: int = 100) -> list[JobRow]:
        states = list(states)
        where = f"WHERE state IN ({', '.join('?' * len(states))})" if states else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY created DESC, rowid DESC LIMIT ?", (*states, limit)
            ).fetchall()
        return [_row(r) for r in rows]

    def events_after(self, job_id: str, seq: int) -> list[pb.RestoreEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM events WHERE job_id = ? AND seq > ? ORDER BY seq", (job_id, seq)
            ).fetchall()
        return [pb.RestoreEvent.FromString(r[0]) for r in rows]

    def last_event(self, job_id: str, kind: str) -> pb.RestoreEvent | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM events WHERE job_id = ? AND kind = ? ORDER BY seq DESC LIMIT 1", (job_id, kind)
            ).fetchone()
        return pb.RestoreEvent.FromString(row[0]) if row else None

    def queue_position(self, job_id: str) -> int:
        """Queued jobs that run before this one."""
        with self._lock:
            row = self._db.execute(
                "SELECT priority, created, rowid, state FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if row is None:
                raise UnknownJob(job_id)
            if row[3] != pb.JOB_STATE_QUEUED:
                return 0
            (ahead,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state = ? AND (priority > ? OR (priority = ? AND"
                " (created < ? OR (created = ? AND rowid < ?))))",
                (pb.JOB_STATE_QUEUED, row[0], row[0], row[1], row[1], row[2]),
            ).fetchone()
        return ahead

    def counts(self) -> dict[int, int]:
        with self._lock:
            return dict(self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())

    def active_outputs(self) -> set[str]:
        """Output paths of jobs that are queued or running (two jobs must not write one file)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT plan FROM jobs WHERE state IN (?, ?)", (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING)
            ).fetchall()
        return {json.loads(r[0])["output"] for r in rows}


_COLUMNS = "id, created, priority, label, state, request, plan, device, started, finished, last_seq, frames_announced"


def _row(row: tuple) -> JobRow:
    return JobRow(
        id=row[0],
        created=row[1],
        priority=row[2],
        label=row[3],
        state=row[4],
        request=pb.RestoreRequest.FromString(row[5]),
        plan=json.loads(row[6]),
        device=row[7],
        started=row[8],
        finished=row[9],
        last_seq=row[10],
        frames_announced=row[11],
    )
