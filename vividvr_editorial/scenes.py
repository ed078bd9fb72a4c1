"""Scene split for long untrimmed sources (a film scan, a tape capture): PySceneDetect finds the cuts.

Each scene becomes its own range, so no temporal window spans a cut and every shot is an
independent task. PySceneDetect reads the movie through its PyAV backend with its content
detector at its own defaults, from the start of the file, so its frame numbers are the media
layer's (0-based presentation order) and agree with `scenedetect -b pyav detect-content`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from vividvr_client.timecode import FrameRange
from vividvr_editorial.planning import ReelPlan, split_ranges
from vividvr_engine.engine import CancelToken, ClipSource, FrameSink, ProgressCallback, RestorationEngine
from vividvr_engine.errors import SettingsError
from vividvr_engine.restore_job import probe
from vividvr_engine.settings import RestoreSettings

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


class _SceneClip:
    """Clip frames `start`..`stop - 1` of `clip` as a clip of their own."""

    def __init__(self, clip: ClipSource, start: int, stop: int) -> None:
        self.clip, self.start = clip, start
        self.num_frames = stop - start
        self.height, self.width, self.fps = clip.height, clip.width, clip.fps

    def frames(self, start: int = 0) -> Iterator[np.ndarray]:
        return islice(self.clip.frames(self.start + start), self.num_frames - start)


class _ShiftedSink:
    def __init__(self, sink: FrameSink, offset: int) -> None:
        self.sink, self.offset = sink, offset

    def write_segment(self, first: int, frames: np.ndarray) -> None:
        self.sink.write_segment(self.offset + first, frames)


class SceneSplitEngine:
    """Any engine run once per scene of the clip, so no temporal window spans a cut.

    Each scene is an independent clip, with its own resumable state (`state_dir/scene<k>`); the
    frames reach the sink in clip order, so the output is one movie or sequence as usual.
    """

    def __init__(self, engine: RestorationEngine, cuts: list[int]) -> None:
        self.engine = engine
        self.cuts = cuts  # clip indices that start a scene
        self.name = f"{engine.name}+scenes"  # staged work of an unsplit run is never reused

    def output_size(self, height: int, width: int, settings: RestoreSettings) -> tuple[int, int]:
        return self.engine.output_size(height, width, settings)

    def restore(self, clip: ClipSource, sink: FrameSink, settings: RestoreSettings,
                progress: ProgressCallback | None = None, *, state_dir: Path | None = None,
                first_unwritten_frame: int = 0, cancel: CancelToken | None = None) -> None:
        bounds = [0, *(c for c in self.cuts if 0 < c < clip.num_frames), clip.num_frames]
        for k, (start, stop) in enumerate(itertools.pairwise(bounds)):
            if stop <= first_unwritten_frame:
                continue
            self.engine.restore(
                _SceneClip(clip, start, stop), _ShiftedSink(sink, start), settings, progress,
                state_dir=None if state_dir is None else Path(state_dir) / f"scene{k}",
                first_unwritten_frame=max(0, first_unwritten_frame - start), cancel=cancel,
            )


def split_engine_at_scenes(engine: RestorationEngine, media: str, frames: FrameRange) -> SceneSplitEngine:
    """`engine` restoring `frames` of the movie `media` one scene at a time."""
    if probe(media).kind != "movie":
        raise SettingsError(f"{media}: --split-scenes reads movies; restore an image sequence's shots one by one")
    return SceneSplitEngine(engine, [c - frames.first for c in detect_cuts(media, frames)])
