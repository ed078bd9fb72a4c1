"""OTIO Clip JSON as the hosts write it, built and read without the opentimelineio package.

The Resolve and Nuke plugins run in the hosts' own Pythons, where only the daemon client is
installed; this module is part of that client. The daemon parses what it builds with the real
OpenTimelineIO library (`otio_clip.py`).
"""

from __future__ import annotations

import json
import os
from fractions import Fraction


def time_range(start: float, duration: float, rate: Fraction | float) -> dict:
    def time(value: float) -> dict:
        return {"OTIO_SCHEMA": "RationalTime.1", "rate": float(rate), "value": float(value)}

    return {"OTIO_SCHEMA": "TimeRange.1", "duration": time(duration), "start_time": time(start)}


def split_pattern(path: str) -> tuple[str, str, int, str]:
    """(directory, prefix, padding, suffix) of a `name.####.exr` pattern."""
    directory, name = os.path.split(path)
    first, last = name.index("#"), name.rindex("#")
    return directory, name[:first], last - first + 1, name[last + 1 :]


def movie_reference(name: str, path: str, available: dict) -> dict:
    return {
        "OTIO_SCHEMA": "ExternalReference.1",
        "metadata": {},
        "name": name,
        "available_range": available,
        "available_image_bounds": None,
        "target_url": path,
    }


def sequence_reference(name: str, pattern: str, start_frame: int, rate: Fraction | float, available: dict) -> dict:
    """An ImageSequenceReference for a `name.####.exr` pattern whose first file is `start_frame`."""
    directory, prefix, padding, suffix = split_pattern(pattern)
    return {
        "OTIO_SCHEMA": "ImageSequenceReference.1",
        "metadata": {},
        "name": name,
        "available_range": available,
        "available_image_bounds": None,
        "target_url_base": directory,
        "name_prefix": prefix,
        "name_suffix": suffix,
        "start_frame": start_frame,
        "frame_step": 1,
        "rate": float(rate),
        "frame_zero_padding": padding,
        "missing_frame_policy": "error",
    }


def clip_json(name: str, reference: dict, source_range: dict, metadata: dict | None = None) -> str:
    """JSON of an OTIO Clip.2 using `reference` as its default media."""
    clip = {
        "OTIO_SCHEMA": "Clip.2",
        "metadata": metadata or {},
        "name": name,
        "source_range": source_range,
        "effects": [],
        "markers": [],
        "enabled": True,
        "media_references": {"DEFAULT_MEDIA": reference},
        "active_media_reference_key": "DEFAULT_MEDIA",
    }
    return json.dumps(clip, indent=1)


def media_of(clip_text: str) -> tuple[str, str]:
    """(path, kind) of a clip's active media: a movie path, or a `name.####.exr` sequence pattern."""
    clip = json.loads(clip_text)
    references = clip.get("media_references") or {}
    reference = references.get(clip.get("active_media_reference_key", "DEFAULT_MEDIA")) or clip.get("media_reference")
    if reference is None:
        raise ValueError("the clip names no media")
    if reference["OTIO_SCHEMA"].startswith("ImageSequenceReference"):
        name = f"{reference['name_prefix']}{'#' * reference['frame_zero_padding']}{reference['name_suffix']}"
        return os.path.join(reference["target_url_base"], name), "sequence"
    return reference["target_url"], "movie"
