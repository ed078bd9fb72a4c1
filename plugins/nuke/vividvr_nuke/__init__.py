"""VividVR for Nuke: the VividVR node's logic, importable from Nuke's own Python.

`init.py` (every mode) calls `register()`; `menu.py` (GUI only) calls `add_menu()`; the
node's buttons call `restore_clicked()` / `cancel_clicked()`. Nuke itself is reached only
through `vividvr_nuke.host`.
"""

from __future__ import annotations

from vividvr_nuke import host, job


def register() -> None:
    """Show stored results and re-attach unfinished jobs whenever a VividVR node is created or loaded."""
    host.on_create(job.created)


def add_menu() -> None:
    host.add_menu_command()


def restore_clicked() -> None:
    job.restore(host.this_node())


def cancel_clicked() -> None:
    job.cancel(host.this_node())
