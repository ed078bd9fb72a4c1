"""What host plugins carry with them: the torch-free client library that Resolve's and Nuke's Pythons import.

Hosts run plugins with their own Python, which has no VividVR installed, so each installer
copies the `vividvr_client` package next to its plugin. They need only grpcio and protobuf, installed for the
host's Python with the pins VividVR itself declares, into the plugin's own lib folder (`pip install
--target`), so the user's system Python is never changed. Each installer leaves a stamp in that folder
(VividVR's version, the host Python) that `vividvr doctor` reads back.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from vividvr_cli.plugins_command import InstallError
from vividvr_engine import __version__

STAMP = "vividvr_plugin.json"
MINIMUM_PYTHON = (3, 10)  # the client's syntax and protobuf 7 both need it
PROBE_TIMEOUT_S = 60
PIP_TIMEOUT_S = 900

CLIENT_PACKAGES = ("grpcio", "protobuf")

# (package, files relative to the package folder; None = every .py below it but the installer)
LibraryEntry = tuple[str, tuple[str, ...] | None]

# the torch-free client package, whole: stubs, daemon client, OTIO clip JSON, timecode
CLIENT_LIBRARY: tuple[LibraryEntry, ...] = (("vividvr_client", None),)


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise InstallError(f"package {name} is not importable from this Python; reinstall VividVR")
    return Path(next(iter(spec.submodule_search_locations)))


def library_files(entries: tuple[LibraryEntry, ...]) -> list[tuple[Path, Path]]:
    """(source file, path inside the library folder) for every module the entries name."""
    files = []
    for package, names in entries:
        folder = package_dir(package)
        if names is None:
            chosen = sorted(p for p in folder.rglob("*.py") if p.name != "install.py")
        else:
            chosen = [folder / n for n in names]
        files += [(path, Path(package) / path.relative_to(folder)) for path in chosen]
    return files


def copy_library(entries: tuple[LibraryEntry, ...], lib: Path) -> None:
    """Copy the modules into `lib`, replacing ours wholesale so no stale module survives a reinstall."""
    files = library_files(entries)
    for package, _ in entries:
        if (lib / package).exists():
            shutil.rmtree(lib / package)
    for source, relative in files:
        destination = lib / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def client_requirements() -> list[str]:
    """The client's pins, read from VividVR's own metadata so they never drift from pyproject.toml."""
    requires = importlib.metadata.requires("vividvr") or []
    pins = [r.split(";")[0].strip() for r in requires]
    return [p for p in pins if any(p.startswith(name) and p[len(name)] in "<>=!~ " for name in CLIENT_PACKAGES)]


def plugin_source(host: str) -> Path:
    """The host's plugin files: plugins/HOST in a checkout, vividvr_plugins/HOST in a wheel install."""
    return Path(str(importlib.resources.files("vividvr_plugins"))) / host


def write_stamp(lib: Path, python: str | None) -> None:
    lib.mkdir(parents=True, exist_ok=True)
    (lib / STAMP).write_text(json.dumps({"version": __version__, "python": python}) + "\n", encoding="utf-8")


def read_stamp(lib: Path) -> dict | None:
    """What the installer recorded in `lib`, or None when nothing (readable) is installed there."""
    try:
        values = json.loads((lib / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return values if isinstance(values, dict) else None


def _run(command: list[str], timeout: float = PROBE_TIMEOUT_S) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, 127, "", str(exc))


PROBE = (
    "import json, sys, sysconfig; sys.path.insert(0, sys.argv[1])\n"
    "facts = {'version': list(sys.version_info[:2]), 'platform': sysconfig.get_platform()}\n"
    "try:\n    import vividvr_client.client; facts['client'] = True\n"
    "except Exception as exc:\n    facts['client'] = False; facts['client_error'] = f'{type(exc).__name__}: {exc}'\n"
    "try:\n    import pip; facts['pip'] = True\nexcept ImportError:\n    facts['pip'] = False\n"
    "print(json.dumps(facts))"
)


def probe_python(python: str, lib: Path) -> dict:
    """Run the host's Python with `lib` first on its path: its version, platform, pip, and whether the client imports.

    `error` is set when the Python cannot be run at all (the dict then has nothing else).
    """
    result = _run([*shlex.split(python), "-c", PROBE, str(lib)])
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"cannot run {python}: {detail}"}
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"{python} printed no facts: {result.stdout[-200:]!r}"}


def too_old(facts: dict) -> str | None:
    """Why this Python cannot import the client, when it is too old for it."""
    version = tuple(facts.get("version", ()))
    if version and version < MINIMUM_PYTHON:
        need = ".".join(map(str, MINIMUM_PYTHON))
        return f"is Python {'.'.join(map(str, version))}; the client needs Python {need} or newer"
    return None


def pip_command(python: str, facts: dict, lib: Path) -> list[str]:
    """pip for the host's Python into `lib`: its own pip, else ours told that Python's version (same platform only)."""
    pins = client_requirements()
    if facts.get("pip"):
        return [*shlex.split(python), "-m", "pip", "install", "--upgrade", "--target", str(lib), *pins]
    if facts.get("platform") != sysconfig.get_platform():
        raise InstallError(
            f"{python} has no pip and runs on {facts.get('platform')}, not {sysconfig.get_platform()}; "
            f"give it pip ({python} -m ensurepip --user) and install again"
        )
    version = "".join(map(str, facts["version"]))
    return [sys.executable, "-m", "pip", "install", "--upgrade", "--target", str(lib), "--only-binary=:all:",
            "--implementation", "cp", "--python-version", version, *pins]


def client_packages_note(python: str | None, lib: Path, install: bool, who: str, hint_python: str) -> str:
    """Check (and with `install`, fix) that the host's Python imports the client from `lib`; one line for the user.

    Without a named Python nothing can be checked, so the line says (after `who`, which Python the host
    runs) what to run, with `hint_python` standing for it.
    """
    pins = " ".join(shlex.quote(p) for p in client_requirements())
    if python is None:
        return (f"{who}; give it the client's packages (grpcio, protobuf): "
                f"{hint_python} -m pip install --target {shlex.quote(str(lib))} {pins}"
                f" (or run this install again with --python PYTHON --install-packages)")
    facts = probe_python(python, lib)
    if "error" in facts:
        raise InstallError(f"{facts['error']}; name the Python the host runs plugins with in --python")
    old = too_old(facts)
    if old:
        raise InstallError(f"{python} {old}: point --python at a newer Python and set the host to use it")
    if facts.get("client"):
        return f"{python} already has the client's packages (grpcio, protobuf)"
    if not install:
        try:
            run = shlex.join(pip_command(python, facts, lib))
        except InstallError as exc:
            run = str(exc)
        return f"{python} lacks the client's packages (grpcio, protobuf); run: {run} (or add --install-packages)"
    command = pip_command(python, facts, lib)
    result = _run(command, timeout=PIP_TIMEOUT_S)
    if result.returncode != 0:
        detail = " ".join(result.stderr.strip().splitlines()[-3:])
        raise InstallError(f"pip could not install the client's packages for {python} into {lib}: {detail}")
    after = probe_python(python, lib)
    if not after.get("client"):
        why = after.get("client_error", after.get("error"))
        raise InstallError(f"{python} still cannot import the client from {lib}: {why}")
    return f"installed the client's packages (grpcio, protobuf) for {python} into {lib}"
