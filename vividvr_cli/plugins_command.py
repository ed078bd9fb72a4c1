"""`vividvr plugins install|uninstall HOST`: put a host plugin where the host looks for it, or take it away.

Each host has one entry in `HOSTS`: the name of a module that defines

    install(target: InstallTarget) -> InstallReport
    uninstall(target: InstallTarget) -> InstallReport

The module is imported only when its host is asked for, so a host's installer may import what that
host needs. Installers take every OS fact from `InstallTarget` (never from the running machine
directly), so tests run them for macOS, Windows and Linux with a temporary home.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# host name -> module with install(target) and uninstall(target). One line per host.
HOSTS: dict[str, str] = {
    "resolve": "vividvr_resolve.install",
    "nuke": "vividvr_cli.nuke_install",
}

SYSTEMS = ("Darwin", "Windows", "Linux")


@dataclass(frozen=True)
class InstallTarget:
    """Where and for whom to install: the OS, the user's home and environment, the host's Python."""

    system: str  # platform.system(): "Darwin", "Windows" or "Linux"
    home: Path
    env: Mapping[str, str]
    python: str | None = None  # the interpreter the host runs plugins with, when the user names it
    install_packages: bool = False  # pip-install grpcio/protobuf for `python` into the plugin's lib folder


@dataclass
class InstallReport:
    """What an installer did, and what the user still has to do (printed one line each)."""

    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class InstallError(RuntimeError):
    """The plugin cannot be installed here; the message says why and what to do."""


def installer(host: str):  # type: ignore[no-untyped-def]
    """The installer module for `host`."""
    return importlib.import_module(HOSTS[host])


def current_target(python: str | None = None, install_packages: bool = False) -> InstallTarget:
    return InstallTarget(platform.system(), Path.home(), dict(os.environ), python, install_packages)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plugins", help="install or remove the Resolve/Nuke plugins for this user")
    actions = parser.add_subparsers(dest="plugins_action", metavar="ACTION", required=True)
    for action, help_text in (("install", "copy a host plugin into the host's per-user folders"),
                              ("uninstall", "remove what `install` put there")):
        sub = actions.add_parser(action, help=help_text)
        sub.add_argument("host", choices=sorted(HOSTS), help="which host application")
        sub.add_argument("--python", help="the Python the host runs plugins with: checked for the client's packages")
        if action == "install":
            sub.add_argument("--install-packages", action="store_true",
                             help="pip-install grpcio/protobuf for --python into the plugin's own lib folder"
                                  " (the system Python is left alone)")
        sub.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "install_packages", False) and not args.python:
        print(f"vividvr plugins install {args.host}: --install-packages needs --python, the Python the host runs"
              " plugins with", file=sys.stderr)
        return 2
    target = current_target(args.python, getattr(args, "install_packages", False))
    module = installer(args.host)
    try:
        report = module.install(target) if args.plugins_action == "install" else module.uninstall(target)
    except InstallError as exc:
        print(f"vividvr plugins {args.plugins_action} {args.host}: {exc}", file=sys.stderr)
        return 1
    for path in report.written:
        print(f"installed {path}")
    for path in report.removed:
        print(f"removed {path}")
    if args.plugins_action == "uninstall" and not report.removed:
        print(f"nothing of the {args.host} plugin was installed for this user")
    for note in report.notes:
        print(note)
    return 0
