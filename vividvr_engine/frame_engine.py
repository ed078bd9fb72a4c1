"""The restore loop shared by engines whose output frame depends on its input frame alone.

The preview (Lanczos) and Real-ESRGAN engines walk the same `plan_windows` windows as the
diffusion engine, so segment boundaries and resume points are the same whichever engine ran.
Segments never cross a window's kept range and are split further when a window's frames would
exceed `SEGMENT_BYTES`; a resume starts exactly at `first_unwritten_frame`, even inside a window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from vividvr_engine.engine import CancelToken, ClipSource, FrameSink, Progress, ProgressCallback
from vividvr_engine.errors import MediaError
from vividvr_engine.planning import plan_windows

SEGMENT_BYTES = 256 * 2**20  # most output pixels held before a segment goes to the sink

# (T, H, W, 3) input frames -> (T, out_h, out_w, 3) restored frames
BatchRestorer = Callable[[np.ndarray], np.ndarray]


def segment_length(height: int, width: int, budget: int | None = None) -> int:
    """Frames per segment so one segment of output stays under `budget` (default `SEGMENT_BYTES`)."""
    return max(1, (SEGMENT_BYTES if budget is None else budget) // (height * width * 3 * 4))


def restore_frame_by_frame(
    clip: ClipSource,
    sink: FrameSink,
    window_frames: int,
    output_size: tuple[int, int],
    restore_batch: BatchRestorer,
    progress: ProgressCallback | None = None,
    *,
    first_unwritten_frame: int = 0,
    cancel: CancelToken | None = None,
    segment_bytes: int | None = None,
) -> None:
    windows = plan_windows(clip.num_frames, window_frames)
    start = max(0, first_unwritten_frame)
    if start >= clip.num_frames:
        return
    chunk = segment_length(*output_size, segment_bytes)
    frames = clip.frames(start)
    try:
        for window in windows:
            if window.keep_stop <= start:
                continue
            first = max(window.keep_start, start)
            for seg_start in range(first, window.keep_stop, chunk):
                seg_stop = min(seg_start + chunk, window.keep_stop)
                batch = np.empty((seg_stop - seg_start, clip.height, clip.width, 3), dtype=np.float32)
                for index in range(seg_start, seg_stop):
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    batch[index - seg_start] = _next_frame(frames, index, clip)
                restored = restore_batch(batch)
                if cancel is not None:
                    cancel.raise_if_cancelled()
                sink.write_segment(seg_start, restored)
                if progress is not None:
                    progress(
                        Progress(
                            phase="decode",
                            window=window.index,
                            windows=len(windows),
                            frames_done=seg_stop,
                            frames_total=clip.num_frames,
                        )
                    )
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()


def _next_frame(frames: Iterator[np.ndarray], index: int, clip: ClipSource) -> np.ndarray:
    frame = next(frames, None)
    if frame is None:
        raise MediaError(f"the clip ended at frame {index} of the {clip.num_frames} it announced")
    frame = np.asarray(frame)
    if frame.shape != (clip.height, clip.width, 3):
        raise MediaError(
            f"frame {index} has shape {frame.shape}, expected ({clip.height}, {clip.width}, 3) as announced"
        )
    return frame
