"""Where a reel's files go inside `--output-dir`, and whose folder it is.

    DIR/<range>.mov  or  DIR/<range>/<range>.####.exr     restored media, one per planned range
    DIR/.vividvr-reel/owner.json                          which timeline this folder belongs to
    DIR/.vividvr-reel/state/<range>/                       resumable engine state of each range
    DIR/<timeline stem>.restored.otio                      the conformed timeline

A folder that holds files and no owner record, or another timeline's record, is refused: a
reel never writes over someone else's work.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vividvr_editorial.errors import EditorialError
from vividvr_editorial.planning import PlannedRange
from vividvr_engine.media.images import IMAGE_FORMATS

HIDDEN = ".vividvr-reel"
MOVIE_SUFFIX = ".mov"  # holds every movie format the engine writes


def output_for(plan_range: PlannedRange, output_dir: Path, fmt: str | None, source_kind: str) -> str:
    """The restored media path of a range: an image sequence for image formats or sequence sources."""
    image = IMAGE_FORMATS.get(fmt or "")
    if image is None and fmt is None and source_kind == "sequence":
        suffix = Path(plan_range.media).suffix.lower()
        image = next((f for f in IMAGE_FORMATS.values() if suffix in f.extensions), IMAGE_FORMATS["exr"])
    if image is not None:
        return str(output_dir / plan_range.name / f"{plan_range.name}.####{image.extensions[0]}")
    return str(output_dir / f"{plan_range.name}{MOVIE_SUFFIX}")


def state_dir(output_dir: Path, plan_range: PlannedRange) -> Path:
    return output_dir / HIDDEN / "state" / plan_range.name


def restored_otio(output_dir: Path, timeline_path: Path) -> Path:
    return output_dir / f"{timeline_path.stem}.restored.otio"


def claim(output_dir: Path, timeline_path: Path) -> None:
    """Make `output_dir` this timeline's, or refuse if it holds other work."""
    owner_file = output_dir / HIDDEN / "owner.json"
    me = {"timeline": os.path.abspath(timeline_path)}
    if owner_file.is_file():
        owner = json.loads(owner_file.read_text())
        if owner.get("timeline") != me["timeline"]:
            raise EditorialError(
                f"--output-dir {output_dir}: belongs to the reel of {owner.get('timeline')}; choose another folder"
            )
        return
    if output_dir.exists() and any(output_dir.iterdir()):
        raise EditorialError(
            f"--output-dir {output_dir}: holds files that are not this reel's; choose an empty or new folder"
        )
    owner_file.parent.mkdir(parents=True, exist_ok=True)
    owner_file.write_text(json.dumps(me))
