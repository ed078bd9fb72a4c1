"""`vividvr plugins install resolve`: menu scripts into Resolve's per-user Scripts folders, libraries beside them.

Resolve runs menu scripts with the user's own Python 3, which has no VividVR installed. So the
installer copies what the scripts import (this package and the torch-free client package) into
VividVR's per-user folder, and writes that folder's path into each script. The client's own
dependencies (grpcio, protobuf) go into the same folder for that Python (`pip install --target`, so the
system Python is never changed): checked when `--python` names it, installed with
`--install-packages`, otherwise the exact pip command is printed.
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
from vividvr_resolve.locations import SCRIPT_PAGES, TOOL_FOLDER, resolve_scripts_dir, vividvr_user_dir

RESTORE_SCRIPT = "Restore with Vivid-VR.py"
COLLECT_SCRIPT = "Collect Vivid-VR restores.py"
TOOL_SCRIPT = "Restore with Vivid-VR (Fusion Tool).py"
LIB_LINE = "VIVIDVR_LIB = None  # written by `vividvr plugins install resolve`"
MARKER = "vividvr_resolve"  # every script we install names the package; nothing else we remove does

# Modules copied into the library folder: this package (but its installer) and the client.
LIBRARY = (("vividvr_resolve", None), *CLIENT_LIBRARY)


def script_destinations(scripts: Path) -> list[tuple[str, Path]]:
    """(script in this folder, where Resolve looks for it) for every menu entry."""
    pairs = [(name, scripts / page / name) for name in (RESTORE_SCRIPT, COLLECT_SCRIPT) for page in SCRIPT_PAGES]
    pairs.append((TOOL_SCRIPT, scripts / TOOL_FOLDER / RESTORE_SCRIPT))
    return pairs


def library_dir(target: InstallTarget) -> Path:
    return vividvr_user_dir(target.system, target.home, target.env) / "resolve" / "lib"


def _script_text(source: Path, lib: Path) -> str:
    text = source.read_text(encoding="utf-8")
    if LIB_LINE not in text:
        raise InstallError(f"{source} lacks the line {LIB_LINE!r}; the plugin files are damaged")
    return text.replace(LIB_LINE, f"VIVIDVR_LIB = {str(lib)!r}", 1)


def default_python(target: InstallTarget) -> str:
    """The Python Resolve finds on its own (hosts.md: macOS uses PYTHON3HOME or /usr/local/bin/python3)."""
    if target.system == "Darwin":
        home = target.env.get("PYTHON3HOME")
        return f"{home}/bin/python3" if home else "/usr/local/bin/python3"
    return "py -3" if target.system == "Windows" else "python3"


def install(target: InstallTarget) -> InstallReport:
    scripts = resolve_scripts_dir(target.system, target.home, target.env)
    lib = library_dir(target)
    report = InstallReport()
    sources = [(plugin_source("resolve") / name, destination) for name, destination in script_destinations(scripts)]
    missing = [str(source) for source, _ in sources if not source.is_file()]
    if missing:
        raise InstallError(f"plugin scripts not found: {', '.join(missing)}; reinstall VividVR")
    copy_library(LIBRARY, lib)
    report.written.append(lib)
    for source, destination in sources:
        destination.parent.mkdir(parents=True, exist_ok=True)
        temporary = destination.with_name(destination.name + ".partial")
        temporary.write_text(_script_text(source, lib), encoding="utf-8")
        temporary.replace(destination)
        report.written.append(destination)
    write_stamp(lib, target.python)
    python = default_python(target)
    who = f"Resolve runs these scripts with your own Python 3 ({python})"
    report.notes.append(client_packages_note(target.python, lib, target.install_packages, who, python))
    report.notes.append("Restart Resolve if the scripts do not appear under Workspace > Scripts.")
    return report


def uninstall(target: InstallTarget) -> InstallReport:
    scripts = resolve_scripts_dir(target.system, target.home, target.env)
    report = InstallReport()
    for _, destination in script_destinations(scripts):
        if destination.is_file() and MARKER in destination.read_text(encoding="utf-8", errors="replace"):
            destination.unlink()
            report.removed.append(destination)
    lib = library_dir(target)
    if lib.exists():
        shutil.rmtree(lib)
        report.removed.append(lib)
    return report
