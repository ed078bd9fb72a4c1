"""Helpers for the Nuke plugin tests: the fake `nuke` module, a Nuke session, media and the daemon."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PLUGIN_DIR = TESTS.parent / "plugins" / "nuke"
FAKES = TESTS / "fakes"
for folder in (FAKES, PLUGIN_DIR):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import nuke  # noqa: E402  (the fake, from tests/fakes)

assert hasattr(nuke, "fake_reset"), "tests must import the fake nuke module"

# Small windows so a clip makes several segments; 2x so the restored media differs from the plate.
PREVIEW_KNOBS = {"engine": "preview", "upscale": 2.0, "num_temporal_process_frames": 9}
TERMINAL_STATUS = ("completed", "failed", "cancelled", "error")


def start_session(home: Path, gui: bool = True) -> None:
    """A fresh Nuke with the plugin folder on NUKE_PATH: init.py (and menu.py with a GUI) have run."""
    nuke.fake_startup(gui, home, nuke_path=str(PLUGIN_DIR))


def plate_read(file: str, first: int, last: int, **knobs: object) -> nuke.Node:
    return nuke.nodes.Read(file=file, first=first, last=last, **knobs)


def vividvr_node(read: nuke.Node | None, output: Path, **knobs: object) -> nuke.Node:
    """A VividVR node (from the Nodes menu in the GUI), fed by `read`, writing under `output`."""
    node = nuke.menu("Nodes").fake_invoke("VividVR/Restore") if nuke.GUI else nuke.createNode("VividVR")
    if read is not None:
        node.setInput(0, read)
    values = {**PREVIEW_KNOBS, "output_folder": str(output), **knobs}
    for name, value in values.items():
        node[name].setValue(value)
    return node


def finished(node: nuke.Node) -> Callable[[], bool]:
    return lambda: str(node["status"].value()).startswith(TERMINAL_STATUS)


def press(node: nuke.Node, button: str) -> None:
    node[button].execute()
