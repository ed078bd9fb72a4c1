"""Scene split for long untrimmed sources (a film scan, a tape capture): PySceneDetect finds the cuts.

Each scene becomes its own range, so no temporal window spans a cut and every shot is an
independent task. PySceneDetect reads the movie through its PyAV backend with its content
detector at its own defaults, from the start of the file, so its frame numbers are the media
layer's (0-based presentation order) and agree with `scenedetect -b pyav detect-content`.
"""

from __future__ import annotations

import logging

from vividvr_client.timecode import FrameRange
from vividvr_editorial.planning import ReelPlan, split_ranges
from vividvr_engine.restore_job import probe

log = logging.getLogger("vividvr.editorial")


def detect_cuts(movie: str, frames: FrameRange | None = None) -> list[int]:
    """Frame numbers that start a new scene in `movie` (within `frames` when given), ascending."""
    from scenedetect import ContentDetector, SceneManager, open_video

    video = open_video(movie, backend="pyav")
    manager = SceneManager()
    manager.add_detector(ContentDetector())
    if frames is None:
        manager.detect_scenes(video)
    else:  # decode from the start: frame-exact, where a seek in a long-GOP file might not be
        manager.detect_scenes(video, end_time=frames.last + 1)
    cuts = [start.frame_num for start, _end in manager.get_scene_list()[1:]]
    return [c for c in cuts if frames is None or frames.first < c <= frames.last]


def index_kind(media: str) -> str:
    return probe(media).kind


def split_at_scenes(plan: ReelPlan) -> ReelPlan:
    """`plan` with every movie range split at its scene cuts."""
    cuts: dict[str, list[int]] = {}
    for plan_range in plan.ranges:
        if index_kind(plan_range.media) == "sequence":
            log.warning("%s: --split-scenes reads movies; this image sequence stays one range", plan_range.media)
            continue
        cuts[plan_range.name] = detect_cuts(plan_range.media, plan_range.frames)
    return split_ranges(plan, cuts)
