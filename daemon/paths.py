"""Which files a request may touch: reads under the media roots, writes under the output roots.

A daemon that restores whatever path a client names would hand every client the daemon user's
files, so every path is checked after resolving symlinks: `..` components, symlinks that leave
the roots, and anything that is not a regular file (devices, FIFOs, sockets) are refused.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from vividvr_engine.media.sequence import is_sequence_path, parse_pattern


class PathRefused(PermissionError):
    """A request names a path outside the configured roots, or not a plain file."""


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def resolve_under(raw: str, roots: Sequence[Path], what: str) -> Path:
    """`raw` with symlinks resolved, if it lies under one of `roots` (themselves resolved)."""
    if not raw:
        raise PathRefused(f"{what}: no path given")
    if "\x00" in raw:
        raise PathRefused(f"{what} {raw!r}: contains a NUL byte")
    path = Path(raw)
    if not path.is_absolute():
        raise PathRefused(f"{what} {raw}: must be an absolute path")
    if ".." in path.parts:
        raise PathRefused(f"{what} {raw}: '..' is not allowed in paths")
    resolved = path.resolve()
    if not _inside(resolved, [root.resolve() for root in roots]):
        where = ", ".join(str(r) for r in roots) or "(none configured)"
        raise PathRefused(f"{what} {raw}: outside the daemon's allowed folders ({where})")
    return resolved


def check_regular(path: Path, what: str, raw: str) -> None:
    """Refuse devices, FIFOs and sockets: reading /dev/zero as a movie would never end."""
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise PathRefused(f"{what} {raw}: not a regular file")


def resolve_media(raw: str, roots: Sequence[Path]) -> str:
    """A readable media path or sequence pattern under the media roots (FileNotFoundError if absent).

    For a sequence the folder is checked here and each frame file by `check_sequence_frames`.
    """
    if is_sequence_path(raw) and ("#" in raw or "%" in raw):
        pattern = parse_pattern(raw)
        folder = resolve_under(pattern.directory, roots, "media folder")
        if not folder.is_dir():
            raise FileNotFoundError(f"media folder {pattern.directory} does not exist")
        return os.path.join(folder, f"{pattern.prefix}{'#' * pattern.padding}{pattern.suffix}")
    path = resolve_under(raw, roots, "media file")
    if not path.exists():
        raise FileNotFoundError(f"media file {raw} does not exist")
    check_regular(path, "media file", raw)
    return str(path)


def check_sequence_frames(pattern: str, first: int, last: int, roots: Sequence[Path]) -> None:
    """Each present frame file of the range must be a regular file that stays under the roots."""
    seq = parse_pattern(pattern)
    for frame in range(first, last + 1):
        raw = seq.path(frame)
        if os.path.lexists(raw):
            check_regular(resolve_under(raw, roots, "media frame"), "media frame", raw)


def resolve_output(directory: str, name: str, roots: Sequence[Path]) -> str:
    """The output path for `name` in `directory`, which must lie under the output roots."""
    if not name or name != os.path.basename(name) or name in (".", ".."):
        raise PathRefused(f"output name {name!r}: must be a plain file name")
    folder = resolve_under(directory, roots, "output folder")
    target = folder / name
    if not is_sequence_path(name) or not ("#" in name or "%" in name):
        if target.is_symlink():
            raise PathRefused(f"output {target}: is a symbolic link")
        if target.exists():
            check_regular(target, "output", str(target))
    return str(target)
