"""The preview engine: the product's whole read -> window -> write path with a Lanczos resize.

It runs anywhere (no GPU, no weights) and is exact where it should be: at scale 1 every frame
passes through untouched, so it is the reference for frame-accuracy and colour tests. It walks
the same `plan_windows` windows as the diffusion engine and emits each window's kept frames
`[keep_start, keep_stop)` as one segment, so segment boundaries and resume points match.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from vividvr_engine.engine import CancelToken, ClipSource, FrameSink, ProgressCallback
from vividvr_engine.frame_engine import restore_frame_by_frame
from vividvr_engine.settings import RestoreSettings

LANCZOS_LOBES = 3


def lanczos_kernel(x: np.ndarray, lobes: int = LANCZOS_LOBES) -> np.ndarray:
    """sinc(x) * sinc(x / lobes) inside |x| < lobes, else 0."""
    return np.where(np.abs(x) < lobes, np.sinc(x) * np.sinc(x / lobes), 0.0)


@lru_cache(maxsize=8)
def resize_weights(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, weights), each (dst, taps): output pixel i = sum_k weights[i, k] * input[indices[i, k]].

    Pixel centres are aligned (output i sits at input (i + 0.5) * src / dst - 0.5); when
    shrinking the kernel widens by the ratio to avoid aliasing. Edges clamp; rows sum to 1.
    """
    scale = src / dst
    support = LANCZOS_LOBES * max(scale, 1.0)
    centres = (np.arange(dst) + 0.5) * scale - 0.5
    left = np.floor(centres - support).astype(np.int64) + 1
    taps = math.ceil(2 * support) + 1
    positions = left[:, None] + np.arange(taps)[None, :]
    weights = lanczos_kernel((positions - centres[:, None]) / max(scale, 1.0))
    weights /= weights.sum(axis=1, keepdims=True)
    return np.clip(positions, 0, src - 1), weights.astype(np.float32)


def _resize_axis(image: np.ndarray, size: int, axis: int) -> np.ndarray:
    indices, weights = resize_weights(image.shape[axis], size)
    out = None
    for k in range(indices.shape[1]):
        taken = np.take(image, indices[:, k], axis=axis)
        shape = [1] * image.ndim
        shape[axis] = size
        term = taken * weights[:, k].reshape(shape)
        out = term if out is None else out + term
    assert out is not None
    return out


def lanczos_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Separable Lanczos-3 resize of (H, W, C) float32; unclipped, so overshoot is kept as is."""
    if image.shape[:2] == (height, width):
        return image
    out = image
    if out.shape[0] != height:
        out = _resize_axis(out, height, 0)
    if out.shape[1] != width:
        out = _resize_axis(out, width, 1)
    return out.astype(np.float32, copy=False)


class PreviewEngine:
    """`RestorationEngine` that resizes to `settings.output_size` and restores nothing else."""

    name = "preview"

    @classmethod
    def create(cls, checkpoints: Path | None = None, device: str | None = None, offload: str = "none") -> PreviewEngine:
        """Arguments are accepted for a uniform registry and ignored: nothing to load."""
        return cls()

    def output_size(self, height: int, width: int, settings: RestoreSettings) -> tuple[int, int]:
        return settings.output_size(height, width)

    def restore(
        self,
        clip: ClipSource,
        sink: FrameSink,
        settings: RestoreSettings,
        progress: ProgressCallback | None = None,
        *,
        state_dir: Path | None = None,
        first_unwritten_frame: int = 0,
        cancel: CancelToken | None = None,
    ) -> None:
        """Resize frame by frame (see `frame_engine`); `state_dir` is unused: the sink's finished
        segments are the only state a resize has."""
        height, width = self.output_size(clip.height, clip.width, settings)

        def resize(batch: np.ndarray) -> np.ndarray:
            return np.stack([lanczos_resize(frame, height, width) for frame in batch])

        restore_frame_by_frame(
            clip,
            sink,
            settings.num_temporal_process_frames,
            (height, width),
            resize,
            progress,
            first_unwritten_frame=first_unwritten_frame,
            cancel=cancel,
        )
