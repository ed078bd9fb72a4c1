"""`vividvr plugins install resolve`: menu scripts into Resolve's per-user Scripts folders, libraries beside them.

Resolve runs menu scripts with the user's own Python 3, which has no VividVR installed. So the
installer copies what the scripts import (this package, the daemon client with its generated stubs,
and the engine's pure timecode module: no torch) into VividVR's per-user folder, and writes that
folder's path into each script. The client's own dependencies (grpcio, protobuf) must be installed
for that Python: checked when `--python` names it, otherwise the exact pip command is printed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
from pathlib import Path

from vividvr_cli.plugins_command import InstallError, InstallReport, InstallTarget
from vividvr_resolve.locations import SCRIPT_PAGES, TOOL_FOLDER, resolve_scripts_dir, vividvr_user_dir

PLUGIN_DIR = Path(__file__).resolve().parents[1]  # plugins/resolve: the scripts sit beside this package
RESTORE_SCRIPT = "Restore with Vivid-VR.py"
COLLECT_SCRIPT = "Collect Vivid-VR restores.py"
TOOL_SCRIPT = "Restore with Vivid-VR (Fusion Tool).py"
LIB_LINE = "VIVIDVR_LIB = None  # written by `vividvr plugins install resolve`"
MARKER = "vividvr_resolve"  # every script we install names the package; nothing else we remove does
CLIENT_PACKAGES = ("grpcio", "protobuf")

# Modules copied into the library folder: (package, files relative to the package folder).
LIBRARY = (
    ("vividvr_resolve", None),  # every .py of this package
    ("vividvr_daemon", ("__init__.py", "client.py", "v1/__init__.py", "v1/daemon_pb2.py", "v1/daemon_pb2_grpc.py")),
    ("vividvr_engine", ("__init__.py", "media/__init__.py", "media/timecode.py")),
)


def script_destinations(scripts: Path) -> list[tuple[str, Path]]:
    """(script in this folder, where Resolve looks for it) for every menu entry."""
    pairs = [(name, scripts / page / name) for name in (RESTORE_SCRIPT, COLLECT_SCRIPT) for page in SCRIPT_PAGES]
    pairs.append((TOOL_SCRIPT, scripts / TOOL_FOLDER / RESTORE_SCRIPT))
    return pairs


def library_dir(target: InstallTarget) -> Path:
    return vividvr_user_dir(target.system, target.home, target.env) / "resolve" / "lib"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise InstallError(f"package {name} is not importable from this Python; reinstall VividVR")
    return Path(next(iter(spec.submodule_search_locations)))


def _library_files() -> list[tuple[Path, Path]]:
    """(source file, path inside the library folder)."""
    files = []
    for package, names in LIBRARY:
        folder = _package_dir(package)
        if names is None:  # the whole package but this installer, which needs the CLI
            chosen = sorted(p for p in folder.glob("*.py") if p.name != "install.py")
        else:
            chosen = [folder / n for n in names]
        files += [(path, Path(package) / path.relative_to(folder)) for path in chosen]
    return files


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


def client_requirements() -> list[str]:
    """The client's pins, read from VividVR's own metadata so they never drift from pyproject.toml."""
    requires = importlib.metadata.requires("vividvr") or []
    pins = [r.split(";")[0].strip() for r in requires]
    return [p for p in pins if any(p.startswith(name) and p[len(name)] in "<>=!~ " for name in CLIENT_PACKAGES)]


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
    files = _library_files()
    if lib.exists():
        shutil.rmtree(lib)  # a reinstall must not leave modules of an older version behind
    for source, relative in files:
        destination = lib / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
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
