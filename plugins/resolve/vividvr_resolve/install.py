"""`vividvr plugins install resolve`: menu scripts into Resolve's per-user Scripts folders, libraries beside them.

Resolve runs menu scripts with the user's own Python 3, which has no VividVR installed. So the
installer copies what the scripts import (this package, the daemon client with its generated stubs,
and the engine's pure timecode module: no torch) into VividVR's per-user folder, and writes that
folder's path into each script. The client's own dependencies (grpcio, protobuf) must be installed
for that Python: checked when `--python` names it, otherwise the exact pip command is printed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from vividvr_cli.plugin_library import CLIENT_LIBRARY, client_requirements, copy_library
from vividvr_cli.plugins_command import InstallError, InstallReport, InstallTarget
from vividvr_resolve.locations import SCRIPT_PAGES, TOOL_FOLDER, resolve_scripts_dir, vividvr_user_dir

PLUGIN_DIR = Path(__file__).resolve().parents[1]  # plugins/resolve: the scripts sit beside this package
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


def _python_note(target: InstallTarget) -> str:
    pins = " ".join(f"'{p}'" for p in client_requirements())
    python = target.python or default_python(target)
    command = f"{python} -m pip install --user {pins}"
    if target.python is None:
        return f"Resolve runs these scripts with your own Python 3; give it the client's packages: {command}"
    probe = subprocess.run([target.python, "-c", "import grpc, google.protobuf"], capture_output=True, check=False)
    if probe.returncode == 0:
        return f"{target.python} already has the client's packages (grpcio, protobuf)"
    return f"{target.python} lacks the client's packages (grpcio, protobuf); run: {command}"


def install(target: InstallTarget) -> InstallReport:
    scripts = resolve_scripts_dir(target.system, target.home, target.env)
    lib = library_dir(target)
    report = InstallReport()
    sources = [(PLUGIN_DIR / name, destination) for name, destination in script_destinations(scripts)]
    missing = [str(source) for source, _ in sources if not source.is_file()]
    if missing:
        raise InstallError(f"plugin scripts not found: {', '.join(missing)} (install VividVR from its source tree)")
    copy_library(LIBRARY, lib)
    report.written.append(lib)
    for source, destination in sources:
        destination.parent.mkdir(parents=True, exist_ok=True)
        temporary = destination.with_name(destination.name + ".partial")
        temporary.write_text(_script_text(source, lib), encoding="utf-8")
        temporary.replace(destination)
        report.written.append(destination)
    report.notes.append(_python_note(target))
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
