"""Relinking: which file under the media roots a clip's media is.

Order, as an assistant editor would do it: the reference's own path when it exists; else a file
of the same name (movie, or image sequence with the same name pattern) under `--media-root`; else
a file named for the clip's reel whose timecode span overlaps the clip's source range (the media
layer reads each file's start timecode and length). Two candidates at any step is an error, never
a guess; no candidate is a reason, never a silent drop.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import opentimelineio as otio

from vividvr_client.timecode import parse_timecode
from vividvr_daemon.otio_clip import url_to_path
from vividvr_editorial.errors import EditorialError
from vividvr_engine.errors import MediaError
from vividvr_engine.media.images import IMAGE_EXTENSIONS
from vividvr_engine.media.sequence import SequencePattern, is_sequence_path, parse_pattern
from vividvr_engine.restore_job import MediaInfo, probe

MOVIE_EXTENSIONS = (".mov", ".mp4", ".m4v", ".mkv", ".mxf", ".avi", ".mpg", ".mpeg", ".mts", ".webm", ".flv")


@dataclass(frozen=True)
class Linked:
    """A clip's media on disk: a movie path or an image-sequence pattern, probed."""

    path: str
    info: MediaInfo
    how: str  # "reference", "file name" or "reel and timecode"


@dataclass
class MediaIndex:
    """Every movie and image sequence under the media roots, probed lazily and once."""

    roots: tuple[Path, ...]
    files: list[str] = field(default_factory=list)  # movies and sequence patterns (# padding)
    _probed: dict[str, MediaInfo | MediaError] = field(default_factory=dict)

    @classmethod
    def scan(cls, roots: list[Path] | tuple[Path, ...]) -> MediaIndex:
        files: set[str] = set()
        for root in roots:
            if not Path(root).is_dir():
                raise EditorialError(f"--media-root {root}: not a folder")
            for folder, _dirs, names in os.walk(root):
                for name in names:
                    path = os.path.join(folder, name)
                    lower = name.lower()
                    if lower.endswith(MOVIE_EXTENSIONS):
                        files.add(path)
                    elif lower.endswith(IMAGE_EXTENSIONS) and is_sequence_path(path):
                        files.add(parse_pattern(path).display())
        return cls(tuple(Path(r) for r in roots), sorted(files))

    def probe(self, path: str) -> MediaInfo:
        if path not in self._probed:
            try:
                self._probed[path] = probe(path)
            except MediaError as exc:
                self._probed[path] = exc
        found = self._probed[path]
        if isinstance(found, MediaError):
            raise found
        return found


def _name_key(path: str) -> str:
    """Movies match by file name; sequences by their pattern (name.####.exr), whatever the padding."""
    name = re.split(r"[\\/]", path)[-1]  # a Windows path from another machine, too
    if is_sequence_path(name):
        pattern = parse_pattern(name)
        return f"{pattern.prefix}#{pattern.suffix}".lower()
    return name.lower()


def reference_path(clip: otio.schema.Clip) -> str | None:
    """The path the clip's media reference names (movie, or sequence pattern), if any."""
    ref = clip.media_reference
    if isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
        return url_to_path(ref.target_url)
    if isinstance(ref, otio.schema.ImageSequenceReference):
        pattern = SequencePattern(
            url_to_path(ref.target_url_base), ref.name_prefix, max(1, ref.frame_zero_padding), ref.name_suffix
        )
        return pattern.display()
    return None


def reel_name(clip: otio.schema.Clip) -> str | None:
    """The source reel an EDL names (the cmx_3600 adapter keeps it in the clip's metadata)."""
    reel = str(clip.metadata.get("cmx_3600", {}).get("reel") or "").strip()
    return reel or None


def _exists(path: str) -> bool:
    if is_sequence_path(path) and not path.lower().endswith(MOVIE_EXTENSIONS):
        try:
            return bool(parse_pattern(path).scan())
        except MediaError:
            return False
    return os.path.isfile(path)


def _overlaps(info: MediaInfo, clip: otio.schema.Clip) -> bool:
    """Does the clip's timecode-absolute source range fall within the media's timecode span?"""
    if info.start_timecode is None or clip.source_range is None:
        return False
    rate = clip.source_range.start_time.rate
    start = parse_timecode(info.start_timecode, info.fps) * rate / float(info.fps)
    end = start + (info.last_frame - info.first_frame + 1) * rate / float(info.fps)
    used = clip.source_range
    first = used.start_time.value
    last = first + used.duration.rescaled_to(rate).value
    return first < end and last > start


def _reel_matches(path: str, reel: str) -> bool:
    stem = Path(path).name.split(".")[0].lower()
    reel = reel.lower().rstrip(".")
    return stem == reel or bool(re.match(re.escape(reel) + r"[^a-z0-9]", stem))


def _one_of(candidates: list[str], index: MediaIndex, what: str, how: str) -> Linked | None:
    """The one candidate, None for none; two or more is an error naming them all, never a guess."""
    if len(candidates) > 1:
        raise EditorialError(
            f"{len(candidates)} media files match {what}: {', '.join(candidates)}; keep one, or pass a narrower"
            " --media-root"
        )
    return Linked(candidates[0], index.probe(candidates[0]), how) if candidates else None


def relink(clip: otio.schema.Clip, index: MediaIndex) -> Linked:
    """The clip's media on disk, or EditorialError saying why it cannot be found."""
    named = reference_path(clip)
    if named and _exists(named):
        return Linked(named, index.probe(named), "reference")
    wanted = named or clip.name
    if wanted:
        key = _name_key(wanted)
        found = _one_of([f for f in index.files if _name_key(f) == key], index, f"{wanted!r}", "file name")
        if found:
            return found
    reel = reel_name(clip)
    if reel:
        candidates = []
        for path in (f for f in index.files if _reel_matches(f, reel)):
            try:
                if _overlaps(index.probe(path), clip):
                    candidates.append(path)
            except MediaError:
                continue
        found = _one_of(candidates, index, f"reel {reel} and its timecode", "reel and timecode")
        if found:
            return found
    looked = ", ".join(str(r) for r in index.roots) or "no --media-root given"
    what = f"{wanted!r}" + (f" (reel {reel})" if reel else "")
    raise EditorialError(f"media {what} not found (searched: {looked}); pass the folder holding it with --media-root")
