"""Interrupted jobs resume: finished segments are kept, never rewritten, and the result is identical."""

from __future__ import annotations

from fractions import Fraction

import pytest
from media_patterns import movie_frames, read_index, write_movie

from vividvr_client.timecode import FrameRange
from vividvr_engine.engine import CancelToken
from vividvr_engine.errors import Cancelled, MediaError
from vividvr_engine.media.images import read_image
from vividvr_engine.planning import plan_windows
from vividvr_engine.preview import PreviewEngine
from vividvr_engine.restore_job import RestoreJobSpec, restore_clip
from vividvr_engine.settings import RestoreSettings

WINDOW = 9
SETTINGS = RestoreSettings(upscale=2, num_temporal_process_frames=WINDOW)


class RecordingEngine(PreviewEngine):
    """The preview engine, noting where it was told to start and which segments it emitted."""

    def __init__(self) -> None:
        super().__init__()
        self.first_unwritten: int | None = None
        self.emitted: list[int] = []

    def restore(self, clip, sink, settings, progress=None, *, state_dir=None, first_unwritten_frame=0, cancel=None):
        self.first_unwritten = first_unwritten_frame
        recording_sink = self

        class Sink:
            def write_segment(self, first, frames):
                recording_sink.emitted.append(first)
                sink.write_segment(first, frames)

        super().restore(clip, Sink(), settings, progress, state_dir=state_dir,
                        first_unwritten_frame=first_unwritten_frame, cancel=cancel)


def interrupt_after_segments(count: int):
    token = CancelToken()
    seen = []

    def progress(_):
        seen.append(1)
        if len(seen) >= count:
            token.cancel()

    return token, progress


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "plate.mov"
    return write_movie(path, "prores_ks", Fraction(24000, 1001), 30, pix_fmt="yuv422p10le", timecode="10:00:00:00")


@pytest.mark.parametrize("output", ["out.mov", "seq/out.####.exr"])
def test_resume_keeps_finished_segments_and_matches_an_uninterrupted_run(source, tmp_path, output):
    spec = RestoreJobSpec(str(source), str(tmp_path / "a" / output), FrameRange(2, 27))
    state = tmp_path / "state"
    token, progress = interrupt_after_segments(2)
    with pytest.raises(Cancelled):
        restore_clip(spec, PreviewEngine(), SETTINGS, progress, cancel=token, state_dir=state)
    assert not list((tmp_path / "a").rglob("out*")), "partial output appeared under a final name"
    staged = {p.name: p.stat().st_mtime_ns for p in (state / "media").iterdir() if p.name != "manifest.json"}
    assert staged

    resumed = RecordingEngine()
    result = restore_clip(spec, resumed, SETTINGS, state_dir=state)
    windows = plan_windows(26, WINDOW)
    assert resumed.first_unwritten == windows[2].keep_start  # two windows were finished before the stop
    assert min(resumed.emitted) == windows[2].keep_start
    assert result.frames.count == 26 and result.start_timecode in (None, "10:00:00:02")

    fresh_spec = RestoreJobSpec(spec.input, str(tmp_path / "b" / output), spec.frames)
    fresh = restore_clip(fresh_spec, PreviewEngine(), SETTINGS)
    for left, right in zip(result.outputs, fresh.outputs, strict=True):
        with open(left, "rb") as a, open(right, "rb") as b:
            assert a.read() == b.read(), f"{left} differs from an uninterrupted run"
    indices = (
        [read_index(f) for f in movie_frames(tmp_path / "a" / output)]
        if output.endswith(".mov")
        else [read_index(read_image(p)) for p in result.outputs]
    )
    assert indices == list(range(2, 28))
    assert not (state / "media").exists()  # the work folder goes once the output is published


def test_state_from_different_settings_is_not_reused(source, tmp_path):
    spec = RestoreJobSpec(str(source), str(tmp_path / "out.mov"), None)
    state = tmp_path / "state"
    token, progress = interrupt_after_segments(1)
    with pytest.raises(Cancelled):
        restore_clip(spec, PreviewEngine(), SETTINGS, progress, cancel=token, state_dir=state)
    other = RecordingEngine()
    result = restore_clip(spec, other, RestoreSettings(upscale=1, num_temporal_process_frames=WINDOW), state_dir=state)
    assert other.first_unwritten == 0
    assert (result.width, result.height) == (64, 48)
    assert [read_index(f) for f in movie_frames(tmp_path / "out.mov")] == list(range(30))


def test_a_job_interrupted_after_publishing_finds_its_output_instead_of_refusing(source, tmp_path):
    spec = RestoreJobSpec(str(source), str(tmp_path / "out.mov"), FrameRange(3, 20))
    state = tmp_path / "state"
    first = restore_clip(spec, PreviewEngine(), SETTINGS, state_dir=state)
    published = (tmp_path / "out.mov").stat().st_mtime_ns
    engine = RecordingEngine()
    again = restore_clip(spec, engine, SETTINGS, state_dir=state)  # as a daemon does after a crash before "completed"
    assert engine.first_unwritten is None  # nothing was restored or rewritten
    assert again.outputs == first.outputs and (tmp_path / "out.mov").stat().st_mtime_ns == published
    fresh = RestoreJobSpec(str(source), str(tmp_path / "out.mov"), FrameRange(3, 20))
    with pytest.raises(MediaError, match="exists"):
        restore_clip(fresh, PreviewEngine(), SETTINGS, state_dir=tmp_path / "other-state")
