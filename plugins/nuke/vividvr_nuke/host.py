"""The one module that calls `nuke`: every guess about Nuke's API is a line here.

Everything else in the plugin works on the values these functions return, so a wrong guess
(a knob name, a call signature) is fixed here without touching the logic. The calls follow
Foundry's Nuke Python developer guide as summarised in ../shared/design/hosts.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nuke

from vividvr_client.timecode import FrameRange
from vividvr_nuke.plate import ReadKnobs

NODE_CLASS = "VividVR"  # the gizmo: VividVR.gizmo on the plugin path
MENU_PATH = "VividVR/Restore"  # under the Nodes menu
INTERNAL_READ = "Restored"  # the gizmo's Read of the restored media
INTERNAL_SWITCH = "Show"  # the gizmo's Switch: input 0 the plate, input 1 the restored media
PASSTHROUGH_CLASSES = ("Dot",)  # nodes between the VividVR node and its Read that change no pixels

Node = Any  # a nuke.Node


def is_gui() -> bool:
    return bool(nuke.GUI)


def value(node: Node, knob: str) -> Any:
    return node[knob].value()


def set_value(node: Node, knob: str, new: Any) -> None:
    node[knob].setValue(new)


def name(node: Node) -> str:
    return node.fullName()


def node_class(node: Node) -> str:
    return node.Class()


def this_node() -> Node:
    return nuke.thisNode()


def to_node(full_name: str) -> Node | None:
    return nuke.toNode(full_name)


def source_read(node: Node) -> Node | None:
    """The node feeding input 0, looking through Dots; None when nothing is connected."""
    upstream = node.input(0)
    while upstream is not None and upstream.Class() in PASSTHROUGH_CLASSES:
        upstream = upstream.input(0)
    return upstream


def read_knobs(read: Node) -> ReadKnobs:
    return ReadKnobs(
        file=str(read["file"].value()),
        first=int(read["first"].value()),
        last=int(read["last"].value()),
        frame_mode=str(read["frame_mode"].value()),
        frame=str(read["frame"].value()),
        colorspace=str(read["colorspace"].value()),
    )


def project_frames() -> FrameRange:
    root = nuke.root()
    return FrameRange(int(root["first_frame"].value()), int(root["last_frame"].value()))


def project_fps() -> float:
    return float(nuke.root()["fps"].value())


def show_restored(node: Node, setup: ReadKnobs | None) -> None:
    """Point the gizmo's internal Read at restored media and switch to it; None shows the plate."""
    read = node.node(INTERNAL_READ)
    if setup is not None:
        read["file"].setValue(setup.file)
        read["first"].setValue(setup.first)
        read["last"].setValue(setup.last)
        read["frame_mode"].setValue(setup.frame_mode)
        read["frame"].setValue(setup.frame)
        read["colorspace"].setValue(setup.colorspace)
    node.node(INTERNAL_SWITCH)["which"].setValue(0 if setup is None else 1)


def in_main_thread(call: Callable[..., None], *args: Any) -> None:
    """Run `call(*args)` on Nuke's main thread; only for worker threads (from the main thread Nuke hangs)."""
    nuke.executeInMainThread(call, args)


def progress_task(title: str) -> Any:
    """A progress bar with a cancel button: setMessage(str), setProgress(int 0-100), isCancelled()."""
    return nuke.ProgressTask(title)


def on_create(callback: Callable[[], None]) -> None:
    """Call `callback()` (with `this_node()` set) whenever a VividVR node is created, script loads included."""
    nuke.addOnCreate(callback, nodeClass=NODE_CLASS)


def add_menu_command() -> None:
    nuke.menu("Nodes").addCommand(MENU_PATH, lambda: nuke.createNode(NODE_CLASS))


def open_script(path: str) -> None:
    nuke.scriptOpen(path)


def save_script(path: str) -> None:
    nuke.scriptSave(path)
