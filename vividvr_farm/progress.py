"""`vividvr restore --json` events as OpenJD's own stdout lines, so any OpenJD farm shows them.

    openjd_progress: <0-100>    openjd_status: <message>    openjd_fail: <message>
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
