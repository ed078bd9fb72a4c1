"""`vividvr plugins install|uninstall nuke`: the VividVR node for Nuke, for this user.

Nuke looks for plugins on its plugin path, which always includes ~/.nuke, and runs
~/.nuke/init.py at every start (GUI, terminal and render modes). The installer copies the
plugin folder (init.py, menu.py, VividVR.gizmo, the farm script and the vividvr_nuke package)
to ~/.nuke/vividvr, copies the torch-free client package it imports to ~/.nuke/vividvr/lib, and adds a
marked block to ~/.nuke/init.py that puts both on the paths. Nuke runs its own Python, so the client's
packages (grpcio, protobuf) must be installed for it into that lib folder: checked when `--python`
names Nuke's interpreter (and installed with `--install-packages`), otherwise the exact pip command is
printed. Uninstall removes the folder and the block only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vividvr_cli.plugin_library import (
    CLIENT_LIBRARY,
    client_packages_note,
    copy_library,
    plugin_source,
    write_stamp,
)
from vividvr_cli.plugins_command import InstallError, InstallReport, InstallTarget

PLUGIN_SOURCE = plugin_source("nuke")
PLUGIN_FILES = ("init.py", "menu.py", "VividVR.gizmo", "vividvr_farm.py")
PLUGIN_PACKAGE = "vividvr_nuke"
BEGIN = "# >>> vividvr: added by `vividvr plugins install nuke`; `vividvr plugins uninstall nuke` removes it"
END = "# <<< vividvr"


def nuke_dir(target: InstallTarget) -> Path:
    """~/.nuke on every OS (%USERPROFILE%\\.nuke on Windows): always on Nuke's plugin path."""
    return target.home / ".nuke"


def plugin_dir(target: InstallTarget) -> Path:
    return nuke_dir(target) / "vividvr"


def library_dir(target: InstallTarget) -> Path:
    return plugin_dir(target) / "lib"


def init_block(target: InstallTarget) -> str:
    return "\n".join(
        [
            BEGIN,
            "import sys",
            "import nuke",
            f"sys.path.insert(0, {str(library_dir(target))!r})",
            f"nuke.pluginAddPath({str(plugin_dir(target))!r})",
            END,
        ]
    )


def without_block(text: str) -> str:
    """`text` with every VividVR block (and nothing else) removed."""
    lines, kept, inside = text.splitlines(keepends=True), [], False
    for line in lines:
        if line.startswith(BEGIN):
            inside = True
        elif inside and line.startswith(END):
            inside = False
        elif not inside:
            kept.append(line)
    return "".join(kept)


def _copy(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)


def install(target: InstallTarget) -> InstallReport:
    source = PLUGIN_SOURCE
    missing = [name for name in (*PLUGIN_FILES, PLUGIN_PACKAGE) if not (source / name).exists()]
    if missing:
        raise InstallError(f"plugin files not found in {source}: {', '.join(missing)}; reinstall VividVR")
    destination = plugin_dir(target)
    lib = library_dir(target)
    # replace our modules wholesale (no stale ones left behind); pip's packages in lib stay
    if (destination / PLUGIN_PACKAGE).exists():
        shutil.rmtree(destination / PLUGIN_PACKAGE)
    for name in PLUGIN_FILES:
        _copy(source / name, destination / name)
    for path in sorted((source / PLUGIN_PACKAGE).glob("*.py")):
        _copy(path, destination / PLUGIN_PACKAGE / path.name)
    copy_library(CLIENT_LIBRARY, lib)
    init = nuke_dir(target) / "init.py"
    existing = init.read_text(encoding="utf-8") if init.exists() else ""
    body = without_block(existing)
    if body and not body.endswith("\n"):
        body += "\n"
    partial = init.with_name("init.py.partial")
    partial.write_text(body + init_block(target) + "\n", encoding="utf-8")
    partial.replace(init)
    report = InstallReport(written=[destination, init])
    write_stamp(lib, target.python)
    who = "Nuke runs its own Python (the python3 inside your Nuke install folder)"
    report.notes.append(client_packages_note(target.python, lib, target.install_packages, who, "NUKE_PYTHON"))
    report.notes.append("Restart Nuke: the node is under Nodes > VividVR > Restore.")
    return report


def uninstall(target: InstallTarget) -> InstallReport:
    report = InstallReport()
    init = nuke_dir(target) / "init.py"
    if init.exists():
        text = init.read_text(encoding="utf-8")
        if BEGIN in text:
            init.write_text(without_block(text), encoding="utf-8")
            report.removed.append(init)
    destination = plugin_dir(target)
    if destination.exists():
        shutil.rmtree(destination)
        report.removed.append(destination)
    return report
