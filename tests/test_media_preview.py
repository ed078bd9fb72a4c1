"""The preview engine: Lanczos resize, identity at scale 1, and the engine contract on plan_windows."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vividvr_engine.engine import CancelToken
from vividvr_engine.errors import Cancelled
from vividvr_engine.planning import plan_windows
from vividvr_engine.preview import PreviewEngine, lanczos_resize, resize_weights
from vividvr_engine.settings import RestoreSettings

RNG = np.random.default_rng(3)


class ArrayClip:
    """An in-memory ClipSource whose frame k is filled with the value k."""

    def __init__(self, count: int, height: int = 12, width: int = 16) -> None:
        self.num_frames, self.height, self.width, self.fps = count, height, width, Fraction(25)
        self.starts: list[int] = []

    def frames(self, start: int = 0):
        self.starts.append(start)
        for k in range(start, self.num_frames):
            yield np.full((self.height, self.width, 3), k, np.float32)


class ListSink:
    def __init__(self) -> None:
        self.segments: list[tuple[int, np.ndarray]] = []

    def write_segment(self, first: int, frames: np.ndarray) -> None:
        self.segments.append((first, frames))


@pytest.mark.parametrize(("src", "dst"), [(10, 20), (20, 10), (7, 13), (64, 128)])
def test_resize_weights_sum_to_one_and_stay_in_bounds(src, dst):
    indices, weights = resize_weights(src, dst)
    np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-5)
    assert indices.min() >= 0 and indices.max() < src


def test_scale_one_is_bit_exact_identity():
    image = RNG.normal(0.5, 2.0, (12, 16, 3)).astype(np.float32)
    assert lanczos_resize(image, 12, 16) is image


def test_upscale_keeps_flat_fields_and_smooth_ramps():
    flat = np.full((8, 10, 3), 3.5, np.float32)  # unclipped values survive
    np.testing.assert_allclose(lanczos_resize(flat, 16, 20), 3.5, rtol=1e-5)
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32)[None, :, None], (4, 1, 3))
    up = lanczos_resize(ramp, 8, 64)
    expected = np.clip((np.arange(64) + 0.5) / 2 - 0.5, 0, 31) / 31
    np.testing.assert_allclose(up[0, 4:-4, 0], expected[4:-4], atol=2e-3)


def test_segments_are_the_planned_windows_kept_frames_in_order():
    clip, sink = ArrayClip(40), ListSink()
    PreviewEngine().restore(clip, sink, RestoreSettings(upscale=2, num_temporal_process_frames=17))
    windows = plan_windows(40, 17)
    assert [(f, len(x)) for f, x in sink.segments] == [(w.keep_start, w.keep_stop - w.keep_start) for w in windows]
    values = np.concatenate([x[:, 0, 0, 0] for _, x in sink.segments])
    np.testing.assert_allclose(values, np.arange(40), atol=1e-4)
    assert sink.segments[0][1].shape[1:] == (24, 32, 3)
    assert clip.starts == [0]  # one streamed pass, never re-reading


def test_first_unwritten_frame_skips_finished_windows_and_starts_reading_there():
    clip, sink = ArrayClip(40), ListSink()
    windows = plan_windows(40, 9)
    PreviewEngine().restore(
        clip, sink, RestoreSettings(upscale=1, num_temporal_process_frames=9),
        first_unwritten_frame=windows[3].keep_start,
    )
    assert sink.segments[0][0] == windows[3].keep_start
    assert clip.starts == [windows[3].keep_start]


def test_cancel_stops_before_the_next_window_and_progress_counts_frames():
    clip, sink, token = ArrayClip(40), ListSink(), CancelToken()
    reports = []

    def progress(p):
        reports.append(p.frames_done)
        if len(reports) == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        PreviewEngine().restore(
            clip, sink, RestoreSettings(upscale=1, num_temporal_process_frames=9), progress, cancel=token
        )
    windows = plan_windows(40, 9)
    assert reports == [windows[0].keep_stop, windows[1].keep_stop] and len(sink.segments) == 2
