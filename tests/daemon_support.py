"""Helpers for the daemon tests: tiny media, a real in-process server, the in-process reference."""

from __future__ import annotations

import filecmp
import os
from fractions import Fraction
from pathlib import Path

from media_patterns import write_movie

from vividvr_client.client import make_request
from vividvr_client.timecode import FrameRange
from vividvr_daemon.config import DaemonConfig
from vividvr_daemon.server import Daemon
from vividvr_engine.engines import create_engine
from vividvr_engine.restore_job import RestoreJobSpec, restore_clip
from vividvr_engine.settings import RestoreSettings

# Small windows so a 40-frame clip makes several segments (several resume points).
PREVIEW = {"upscale": 2.0, "num_temporal_process_frames": 9}


def make_media(root: Path, frames: int = 40, name: str = "plate.mov") -> Path:
    media = root / "media"
    media.mkdir(exist_ok=True)
    return write_movie(media / name, "mjpeg", Fraction(24), frames, pix_fmt="yuvj420p", timecode="01:00:00:00")


def config_for(root: Path, **overrides: object) -> DaemonConfig:
    (root / "out").mkdir(exist_ok=True)
    (root / "media").mkdir(exist_ok=True)
    values: dict = {
        "listen": "127.0.0.1:0",
        "data_dir": root / "data",
        "log_dir": root / "log",
        "media_roots": (root / "media",),
        "output_roots": (root / "out",),
        "devices": ("cpu",),
        "progress_interval_seconds": 0.0,
    }
    values.update(overrides)
    return DaemonConfig(**values)


def start_daemon(root: Path, **overrides: object) -> Daemon:
    daemon = Daemon(config_for(root, **overrides))
    daemon.start()
    return daemon


def request_for(movie: Path, root: Path, name: str, frames: str = "3-30", **kwargs: object):  # type: ignore[no-untyped-def]
    return make_request(
        str(movie), str(root / "out"), name, frames=frames, engine="preview", settings=PREVIEW,
        output_format="png16", **kwargs,
    )


def reference_restore(movie: Path, output: Path, first: int, last: int) -> list[str]:
    """The same job run in process, without the daemon."""
    spec = RestoreJobSpec(str(movie), str(output), FrameRange(first, last), format="png16")
    return restore_clip(spec, create_engine("preview"), RestoreSettings(**PREVIEW)).outputs


def same_files(ours: list[str], reference: list[str]) -> bool:
    names = [os.path.basename(p) for p in ours]
    return names == [os.path.basename(p) for p in reference] and all(
        filecmp.cmp(a, b, shallow=False) for a, b in zip(ours, reference, strict=True)
    )


def kinds(events) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.WhichOneof("kind") for e in events]


def segments_cover(events, first: int, last: int) -> bool:  # type: ignore[no-untyped-def]
    """Segment events tile first..last exactly: in order, no gap, no frame twice."""
    expected = first
    for event in events:
        if event.WhichOneof("kind") == "segment_written":
            if event.segment_written.first_frame != expected:
                return False
            expected = event.segment_written.last_frame + 1
    return expected == last + 1

