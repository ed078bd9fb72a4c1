"""`vividvr`: restore clips, run the daemon, install host plugins.

Each command group lives in its own module exposing `register(subparsers)`; this file only
assembles them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vividvr_engine import __version__

COMMAND_MODULES = [
    "vividvr_cli.restore_command",
    "vividvr_cli.daemon_command",
    "vividvr_cli.plugins_command",
    "vividvr_cli.nuke_command",
    "vividvr_cli.models_command",
    "vividvr_cli.doctor_command",
    "vividvr_cli.reel_command",
    "vividvr_cli.farm_command",
]

EXAMPLES = """\
examples:
  vividvr restore plate.mov --output restored.mov --engine preview --upscale 2
  vividvr restore shot.####.exr --output out/shot.####.exr --frames 1001-1100
  vividvr reel restore edit.otio --output-dir restored/ --media-root /shots --handles 12
  vividvr farm bundle edit.otio --bundle jobs/edit --output-dir /renders/edit --media-root /shots
  python -m vividvr_engine.conformance ../shared/reference/vectors --checkpoints ../shared/reference/checkpoints
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vividvr",
        description="Vivid-VR video restoration for finishing: frame-accurate, colour-true, resumable.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vividvr {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
