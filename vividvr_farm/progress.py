"""`vividvr restore --json` events as OpenJD's own stdout lines, so any OpenJD farm shows them.

    openjd_progress: <0-100>    openjd_status: <message>    openjd_fail: <message>

Both event shapes are read: the in-process one (`{"event": "progress", ...}`) and the daemon's
RestoreEvent as JSON (`{"progress": {...}}`, `{"failed": {...}}`), which `--daemon` prints.
"""

from __future__ import annotations

import json


def openjd_lines(line: str) -> list[str]:
    """The OpenJD lines one line of `vividvr restore --json` output stands for (other lines pass through)."""
    try:
        event = json.loads(line)
    except ValueError:
        return [line.rstrip("\n")]
    if not isinstance(event, dict):
        return [line.rstrip("\n")]
    if "event" not in event:
        return daemon_lines(event) or [line.rstrip("\n")]
    kind = event.get("event")
    if kind == "progress":
        status = (f"{event.get('phase')} window {event.get('window', 0) + 1}/{event.get('windows', 1)},"
                  f" frames {event.get('frames_done')}/{event.get('frames_total')}")
        return [f"openjd_progress: {100 * float(event.get('fraction', 0)):.1f}", f"openjd_status: {status}"]
    if kind == "done":
        return ["openjd_progress: 100",
                f"openjd_status: restored {event.get('frames')} frames -> {event.get('output')}"]
    if kind == "error":
        return [f"openjd_fail: {event.get('message')}"]
    return [line.rstrip("\n")]


def daemon_lines(event: dict) -> list[str]:
    """OpenJD lines for one daemon RestoreEvent (protobuf JSON names)."""
    if "progress" in event:
        p = event["progress"]
        status = (f"{p.get('phase', '')} window {p.get('window', 0) + 1}/{p.get('windows', 1)},"
                  f" frames {p.get('framesDone', 0)}/{p.get('framesTotal', 0)}")
        return [f"openjd_progress: {100 * float(p.get('fraction', 0)):.1f}", f"openjd_status: {status}"]
    if "completed" in event:
        return ["openjd_progress: 100", f"openjd_status: restored {len(event['completed'].get('paths', []))} files"]
    if "failed" in event:
        return [f"openjd_fail: {event['failed'].get('message', 'the daemon failed the job')}"]
    if "cancelled" in event:
        return ["openjd_fail: the job was cancelled on the daemon"]
    if "warning" in event:
        return [f"openjd_status: warning: {event['warning'].get('message', '')}"]
    return []
