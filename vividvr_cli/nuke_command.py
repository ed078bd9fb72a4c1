"""`vividvr nuke submit SCRIPT.nk NODE`: restore a comp's VividVR node from a render farm or a shell.

Launches Nuke in terminal mode (`nuke -t vividvr_farm.py SCRIPT.nk NODE`), which opens the
script, submits the node's restoration to the daemon (or re-attaches to its job), waits, records
the restored media on the node and saves the script. A farm job running this, with the render
job depending on it, restores a comp unattended. Exit status: Nuke's (0 restored, 1 failed or
cancelled, 2 bad arguments).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from vividvr_cli.nuke_install import PLUGIN_SOURCE, plugin_dir
from vividvr_cli.plugins_command import current_target

NUKE_ENV = "NUKE_EXECUTABLE"
FARM_SCRIPT = "vividvr_farm.py"


def farm_script() -> Path:
    """The installed farm script (it matches the installed node), else the one in the source tree."""
    installed = plugin_dir(current_target()) / FARM_SCRIPT
    return installed if installed.is_file() else PLUGIN_SOURCE / FARM_SCRIPT


def nuke_arguments(nuke: str, args: argparse.Namespace) -> list[str]:
    command = [nuke, "-t", str(farm_script()), str(args.script), args.node]
    if args.daemon:
        command += ["--daemon", args.daemon]
    if args.force:
        command.append("--force")
    if args.no_save:
        command.append("--no-save")
    return command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("nuke", help="restore VividVR nodes of Nuke scripts (render farms, batch)")
    actions = parser.add_subparsers(dest="nuke_action", metavar="ACTION", required=True)
    submit = actions.add_parser(
        "submit", help="run `nuke -t` to restore one VividVR node, wait, and save the script"
    )
    submit.add_argument("script", type=Path, help="the .nk script")
    submit.add_argument("node", help="the VividVR node, e.g. VividVR1")
    submit.add_argument(
        "--nuke", default=os.environ.get(NUKE_ENV), help=f"the Nuke executable (default ${NUKE_ENV}, else nuke on PATH)"
    )
    submit.add_argument(
        "--daemon", metavar="HOST:PORT", help="daemon address (default: the node's, else $VIVIDVR_DAEMON)"
    )
    submit.add_argument("--force", action="store_true", help="restore again even if the node already has a result")
    submit.add_argument("--no-save", action="store_true", help="leave the script file unchanged")
    submit.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.script.is_file():
        print(f"vividvr nuke submit: {args.script}: no such script", file=sys.stderr)
        return 2
    nuke = args.nuke or shutil.which("nuke")
    if not nuke:
        print(f"vividvr nuke submit: no Nuke executable; pass --nuke PATH or set ${NUKE_ENV}", file=sys.stderr)
        return 2
    try:
        return subprocess.run(nuke_arguments(nuke, args), check=False).returncode
    except OSError as exc:
        print(f"vividvr nuke submit: cannot run {nuke}: {exc.strerror}", file=sys.stderr)
        return 2
