"""What host plugins carry with them: the torch-free client library that Resolve's and Nuke's Pythons import.

Hosts run plugins with their own Python, which has no VividVR installed, so each installer
copies the `vividvr_client` package next to its plugin. They need only grpcio and protobuf, installed for the
host's Python with the pins VividVR itself declares.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
from pathlib import Path

from vividvr_cli.plugins_command import InstallError

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
