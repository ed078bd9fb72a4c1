"""`--engine realesrgan`: fast, non-generative restoration with Real-ESRGAN alone.

It goes through the same contract as the diffusion engine (windows, segments, resume, cancel,
progress), so reading, writing, the daemon and the plugins treat it no differently. Every
output frame depends on its input frame only, which makes resuming trivial.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from vividvr_engine.engine import CancelToken, ClipSource, FrameSink, ProgressCallback
from vividvr_engine.errors import CheckpointError
from vividvr_engine.frame_engine import restore_frame_by_frame
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


def choose_scale(available: Iterable[int], factor: float) -> int:
    """The smallest model that reaches `factor`, else the largest.

    Enlarging a model's output further by resampling loses what the model adds, while a model
    that overshoots only needs an antialiased shrink.
    """
    scales = sorted(available)
    return next((s for s in scales if s >= factor), scales[-1])


class RealESRGANEngine:
    """Real-ESRGAN x2 or x4 per frame, resized to the requested output size."""

    name = "realesrgan"

    def __init__(
        self, models: dict[int, RealESRGAN], textfixer: TextFixer | None = None, checkpoints: Path | None = None
    ) -> None:
        if not models:
            raise CheckpointError("the realesrgan engine needs at least one Real-ESRGAN model")
        self.models = models
        self.textfixer = textfixer
        self.checkpoints = checkpoints

    @classmethod
    def create(
        cls,
        checkpoints: Path | None = None,
        device: str | torch.device | None = None,
        offload: str = "none",
    ) -> RealESRGANEngine:
        """Load whichever of x2plus and x4plus the checkpoint folder has (CRAFT waits for a text-fix job)."""
        expected = " or ".join(str(realesrgan_path(Path(), s)) for s in MODEL_FILES)
        if checkpoints is None:
            raise CheckpointError(f"the realesrgan engine needs a checkpoint folder holding {expected}")
        paths = {s: realesrgan_path(checkpoints, s) for s in MODEL_FILES}
        present = {s: p for s, p in paths.items() if p.is_file()}
        if not present:
            raise CheckpointError(f"{checkpoints}: no Real-ESRGAN weights found; expected {expected}")
        models = {s: RealESRGAN.from_file(p, scale=s, device=device) for s, p in present.items()}
        return cls(models, checkpoints=checkpoints)

    def text_fixer(self, settings: RestoreSettings) -> TextFixer | None:
        """The text fixer when `settings` ask for it, loading CRAFT the first time (then kept)."""
        if not settings.textfix:
            return None
        if self.textfixer is None:
            if 2 not in self.models:
                raise CheckpointError(
                    f"text fix needs {realesrgan_path(self.checkpoints or Path(), 2)}: file not found"
                )
            if self.checkpoints is None:
                raise CheckpointError("text fix needs a checkpoint folder holding the CRAFT detector")
            detector = CraftDetector.from_file(craft_path(self.checkpoints), self.models[2].device)
            self.textfixer = TextFixer(detector, self.models[2])
        return self.textfixer

    def output_size(self, height: int, width: int, settings: RestoreSettings) -> tuple[int, int]:
        return settings.output_size(height, width)

    def restore_frames(
        self, frames: np.ndarray, size: tuple[int, int], textfixer: TextFixer | None = None
    ) -> np.ndarray:
        """(T, H, W, 3) input frames -> (T, *size, 3), through the model that suits the size."""
        source = frames_to_tensor(frames)
        factor = max(size[0] / source.shape[-2], size[1] / source.shape[-1])
        model = self.models[choose_scale(self.models, factor)]
        restored = np.empty((source.shape[0], *size, 3), dtype=np.float32)
        for t in range(source.shape[0]):
            restored[t] = tensor_to_frames(resize_frames(model.upscale_tensor(source[t : t + 1]), size))[0]
        if textfixer is not None:
            restored = textfixer.apply(restored, frames)
        return restored

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
        """Restore frame by frame (see `frame_engine`); `state_dir` holds nothing for this engine,
        since a frame's output depends on that frame alone."""
        size = self.output_size(clip.height, clip.width, settings)
        textfixer = self.text_fixer(settings)
        restore_frame_by_frame(
            clip,
            sink,
            settings.num_temporal_process_frames,
            size,
            lambda batch: self.restore_frames(batch, size, textfixer),
            progress,
            first_unwritten_frame=first_unwritten_frame,
            cancel=cancel,
        )
