"""The flags of `vividvr restore`, which `vividvr submit` takes too: one module both commands import.

The engine-setting flags are generated from `vividvr_client.settings_spec` (type, range in the
help, choices, default); a flag left out stays None, so the engine's (or daemon's) default applies.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vividvr_client.settings_spec import SETTINGS, Setting
from vividvr_engine.engines import ENGINES
from vividvr_engine.media.target import FORMATS

SIZE_FLAGS = ("upscale", "short_side")  # one or the other


def _help(setting: Setting) -> str:
    allowed = f"one of {', '.join(setting.choices)}" if setting.choices else setting.bounds()
    extra = "; ".join(filter(None, [allowed, f"default {setting.default_text()}"]))
    return f"{setting.help} ({extra})".replace("%", "%%")


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per engine setting, generated from the spec."""
    size = parser.add_mutually_exclusive_group()
    for setting in SETTINGS:
        target = size if setting.name in SIZE_FLAGS else parser
        if setting.kind is bool:
            target.add_argument(setting.flag, dest=setting.name, action="store_true", default=None,
                                help=_help(setting))
        else:
            target.add_argument(setting.flag, dest=setting.name, type=setting.kind, choices=setting.choices or None,
                                metavar=None if setting.choices else setting.kind.__name__.upper(),
                                help=_help(setting))


def setting_values(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (RestoreSettings names); the rest keep their defaults."""
    return {s.name: getattr(args, s.name) for s in SETTINGS if getattr(args, s.name, None) is not None}


def add_restore_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="movie file or image-sequence pattern (name.####.exr)")
    parser.add_argument("--output", "-o", required=True, help="movie file or sequence pattern (name.####.exr)")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="vividvr", help="default %(default)s")
    parser.add_argument("--checkpoints", type=Path, metavar="DIR", help="checkpoint folder for the vividvr engine")
    parser.add_argument("--device", help="torch device for model engines (default: best available)")
    parser.add_argument(
        "--devices", metavar="LIST",
        help="spread one job over these devices, one worker each (cuda:0,cuda:1; cpu,cpu): same frames, sooner",
    )
    parser.add_argument(
        "--batch-tiles", type=int, metavar="N",
        help="tiles per forward pass of the vividvr engine (default 1; more is faster and needs more memory)",
    )
    span = parser.add_mutually_exclusive_group()
    span.add_argument("--frames", metavar="FIRST-LAST", help="source frame numbers, inclusive (movie: 0-based)")
    span.add_argument("--in", dest="tc_in", metavar="TC", help="first frame as source timecode (with --out)")
    parser.add_argument("--out", dest="tc_out", metavar="TC", help="last frame as source timecode, inclusive")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: from --output's extension)")
    parser.add_argument("--bit-depth", type=int, choices=(8, 10), default=8,
                        help="h264/h265 bit depth (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output")
    parser.add_argument("--state-dir", type=Path, help="keep resumable state here; rerun to resume")
    add_setting_flags(parser)
    parser.add_argument(
        "--split-scenes", action="store_true", default=None,
        help="restore each scene (cuts found by PySceneDetect) on its own, so no temporal window spans a cut",
    )
    parser.add_argument("--daemon", metavar="HOST:PORT", help="restore through a running daemon instead of here")
    parser.add_argument("--ocio-config", help="OpenColorIO config (file or ocio:// name) for the input transform")
    parser.add_argument("--input-space", help="OCIO colour space of the input")
    parser.add_argument("--working-space", help="OCIO colour space the engine works in")
    parser.add_argument("--json", action="store_true", help="machine-readable progress lines on stdout")
