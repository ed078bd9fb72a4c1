"""`--engine realesrgan`: fast, non-generative restoration with Real-ESRGAN alone.

It goes through the same contract as the diffusion engine (windows, segments, resume, cancel,
progress), so reading, writing, the daemon and the plugins treat it no differently. Every
output frame depends on its input frame only, which makes resuming trivial.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from vividvr_engine.engine import CancelToken, ClipSource, FrameSink, Progress, ProgressCallback
from vividvr_engine.errors import CheckpointError, MediaError
from vividvr_engine.planning import plan_windows
from vividvr_engine.realesrgan import (
    MODEL_FILES,
    RealESRGAN,
    frames_to_tensor,
    realesrgan_path,
    resize_frames,
    tensor_to_frames,
)
from vividvr_engine.settings import RestoreSettings
from vividvr_engine.textfix import CraftDetector, TextFixer, craft_path

SEGMENT_BYTES = 256 * 2**20  # most output pixels held before a segment goes to the sink


def choose_scale(available: Iterable[int], factor: float) -> int:
    """The smallest model that reaches `factor`, else the largest.

    Enlarging a model's output further by resampling loses what the model adds, while a model
    that overshoots only needs an antialiased shrink.
    """
    scales = sorted(available)
    return next((s for s in scales if s >= factor), scales[-1])


def segment_length(height: int, width: int) -> int:
    """Frames per segment so one segment of output stays under `SEGMENT_BYTES`."""
    return max(1, SEGMENT_BYTES // (height * width * 3 * 4))


class RealESRGANEngine:
    """Real-ESRGAN x2 or x4 per frame, resized to the requested output size."""

    name = "realesrgan"

    def __init__(
        self, settings: RestoreSettings, models: dict[int, RealESRGAN], textfixer: TextFixer | None = None
    ) -> None:
        if not models:
            raise CheckpointError("the realesrgan engine needs at least one Real-ESRGAN model")
        self.settings = settings
        self.models = models
        self.textfixer = textfixer

    @classmethod
    def create(
        cls,
        settings: RestoreSettings,
        checkpoints: Path | None = None,
        device: str | torch.device | None = None,
    ) -> RealESRGANEngine:
        """Load whichever of x2plus and x4plus the checkpoint folder has (and CRAFT for text fix)."""
        expected = " or ".join(str(realesrgan_path(Path(), s)) for s in MODEL_FILES)
        if checkpoints is None:
            raise CheckpointError(f"the realesrgan engine needs a checkpoint folder holding {expected}")
        paths = {s: realesrgan_path(checkpoints, s) for s in MODEL_FILES}
        present = {s: p for s, p in paths.items() if p.is_file()}
        if not present:
            raise CheckpointError(f"{checkpoints}: no Real-ESRGAN weights found; expected {expected}")
        if settings.textfix and 2 not in present:
            raise CheckpointError(f"text fix needs {paths[2]}: file not found")
        detector_file = craft_path(checkpoints) if settings.textfix else None
        models = {s: RealESRGAN.from_file(p, scale=s, device=device) for s, p in present.items()}
        textfixer = None
        if detector_file is not None:
            textfixer = TextFixer(CraftDetector.from_file(detector_file, models[2].device), models[2])
        return cls(settings, models, textfixer)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.settings.output_size(height, width)

    def restore_frames(self, frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(T, H, W, 3) input frames -> (T, *size, 3), through the model that suits the size."""
        source = frames_to_tensor(frames)
        factor = max(size[0] / source.shape[-2], size[1] / source.shape[-1])
        model = self.models[choose_scale(self.models, factor)]
        restored = np.empty((source.shape[0], *size, 3), dtype=np.float32)
        for t in range(source.shape[0]):
            restored[t] = tensor_to_frames(resize_frames(model.upscale_tensor(source[t : t + 1]), size))[0]
        if self.textfixer is not None:
            restored = self.textfixer.apply(restored, frames)
        return restored

    def restore(
        self,
        clip: ClipSource,
        sink: FrameSink,
        progress: ProgressCallback | None = None,
        *,
        state_dir: Path | None = None,
        first_unwritten_frame: int = 0,
        cancel: CancelToken | None = None,
    ) -> None:
        """Walk the shared window plan and emit each window's kept frames, in bounded segments.

        `state_dir` holds nothing for this engine: a frame's output depends on that frame alone,
        so continuing at `first_unwritten_frame` already equals an uninterrupted run. Emission
        starts exactly at that frame, even inside a window. Segments never cross a window's kept
        range and are split further when a window's frames would exceed `SEGMENT_BYTES`.
        """
        size = self.output_size(clip.height, clip.width)
        windows = plan_windows(clip.num_frames, self.settings.num_temporal_process_frames)
        start = max(0, first_unwritten_frame)
        if start >= clip.num_frames:
            return
        chunk = segment_length(*size)
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
                    restored = self.restore_frames(batch, size)
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    sink.write_segment(seg_start, restored)
                    if progress is not None:  # one "step"; tile/tiles count the window's frames
                        progress(
                            Progress(
                                phase="denoise",
                                window=window.index,
                                windows=len(windows),
                                steps=1,
                                tile=seg_stop - first - 1,
                                tiles=window.keep_stop - first,
                                frames_done=seg_stop,
                                frames_total=clip.num_frames,
                            )
                        )
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()
        if progress is not None:
            total = clip.num_frames
            progress(Progress(phase="decode", window=len(windows) - 1, windows=len(windows),
                              frames_done=total, frames_total=total))


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
