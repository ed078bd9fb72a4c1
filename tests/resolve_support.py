"""Helpers for the Resolve plugin tests: a project in the fake Resolve, saved settings, the menu scripts."""

from __future__ import annotations

import importlib.util
import json
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import numpy as np
import OpenEXR
from fakes.resolve import Conventions, FakeResolve, FakeTimeline
from media_patterns import movie_frames, read_index

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "plugins" / "resolve"
NTSC_FILM = Fraction(24000, 1001)


def load_script(file_name: str) -> ModuleType:
    """A menu script as a module (not run: it runs itself only inside Resolve)."""
    spec = importlib.util.spec_from_file_location(f"script_{abs(hash(file_name))}", PLUGIN_DIR / file_name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_settings(root: Path, address: str, **overrides: object) -> Path:
    values: dict = {
        "engine": "preview",
        "engine_options": {"num_temporal_process_frames": 9},
        "upscale": 2.0,
        "output_format": "prores",
        "output_dir": str(root / "out"),
        "handles": 4,
        "daemon": address,
        "interactive": False,
        "connect_timeout": 10.0,
    }
    values.update(overrides)
    path = root / "settings.json"
    path.write_text(json.dumps(values))
    return path


def new_project(rate: Fraction, version: tuple[int, int, int] = (21, 0, 4),
                conventions: Conventions | None = None) -> tuple[FakeResolve, FakeTimeline]:
    resolve = FakeResolve(version, rate, conventions)
    timeline = resolve.project.GetMediaPool().CreateEmptyTimeline("cut")
    return resolve, timeline


def shown_indices(path: str, kind_first: int, start: int, count: int) -> list[int]:
    """Bar indices of media indices start..start+count-1 of a restored movie or sequence pattern."""
    if "#" in path or "[" in path or "%" in path:
        return [read_index(exr_rgb(path, kind_first + start + k)) for k in range(count)]
    return [read_index(frame) for frame in movie_frames(Path(path), start, start + count)]


def exr_rgb(pattern: str, number: int) -> np.ndarray:
    """Frame `number` of a `name.[a-b].exr` or `name.####.exr` sequence as float RGB."""
    if "[" in pattern:
        head, rest = pattern[: pattern.rindex("[")], pattern[pattern.rindex("[") + 1:]
        digits = len(rest.split("-", 1)[0])
        path = f"{head}{number:0{digits}d}{rest.split(']', 1)[1]}"
    elif "%" in pattern:
        path = pattern % number
    else:
        digits = pattern.count("#")
        path = pattern.replace("#" * digits, f"{number:0{digits}d}")
    with OpenEXR.File(path) as exr:
        channels = exr.channels()
        if "RGB" in channels:
            return np.asarray(channels["RGB"].pixels, dtype=np.float32)
        return np.stack([np.asarray(channels[c].pixels, dtype=np.float32) for c in "RGB"], axis=-1)
