"""Captioners: the text prompt for each window and tile comes from one of these.

- `CogVLM2Captioner`: the authors' choice, CogVLM2-Video from a local folder, in a worker process.
- `FixedCaptioner`: one caption from the user; no model is loaded at all.
- `RecordedCaptioner`: answers replayed in call order (conformance vectors record them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import torch

from vividvr_engine.caption_worker import CaptionWorker
from vividvr_engine.checkpoints import CAPTIONER_DIR, captioner_problems
from vividvr_engine.errors import CheckpointError

log = logging.getLogger(__name__)

CAPTION_QUESTION = "Please describe this video in detail."
POSITIVE_SUFFIX = (
    "Cinematic, High Contrast, highly detailed, taken using a Canon EOS R camera, hyper detailed photo - "
    "realistic maximum detail, 32k, Color Grading, ultra HD, extreme meticulous detailing, skin pore detailing, "
    "hyper sharpness, perfect without deformations."
)
NEGATIVE_PROMPT = (
    "painting, oil painting, illustration, drawing, art, sketch, oil painting, cartoon, CG Style, 3D render, "
    "unreal engine, blurring, dirty, messy, worst quality, low quality, frames, watermark, signature, "
    "jpeg artifacts, deformed, lowres, over-smooth"
)


class Captioner(Protocol):
    def caption(self, frames: torch.Tensor, fps: float) -> str:
        """frames: [T, 3, H, W] float in [0, 1]; returns a description of the clip."""
        ...


def prompt_for(caption: str) -> str:
    return f"{caption} {POSITIVE_SUFFIX}"


@dataclass
class FixedCaptioner:
    text: str

    def caption(self, frames: torch.Tensor, fps: float) -> str:
        return self.text


@dataclass
class RecordedCall:
    frames: int
    height: int
    width: int
    fps: float
    caption: str


class RecordedCaptioner:
    """Replays recorded answers, and insists each call sees the clip the recording saw."""

    def __init__(self, calls: list[RecordedCall]) -> None:
        self._calls = list(calls)
        self._next = 0

    def caption(self, frames: torch.Tensor, fps: float) -> str:
        if self._next >= len(self._calls):
            raise RuntimeError(f"captioner called {self._next + 1} times; the recording has {len(self._calls)} calls")
        call = self._calls[self._next]
        self._next += 1
        seen = (frames.shape[0], frames.shape[2], frames.shape[3], float(fps))
        expected = (call.frames, call.height, call.width, float(call.fps))
        if seen != expected:
            raise RuntimeError(f"captioner call {self._next} got (frames, h, w, fps) {seen}, recorded {expected}")
        return call.caption

    @property
    def unused(self) -> int:
        return len(self._calls) - self._next


def sample_indices(total: int, fps: float) -> list[int]:
    """One frame per second of video plus the last frame: what CogVLM2-Video is shown."""
    step = max(1, round(fps))
    indices = list(range(0, max(total // step, 1) * step, step))
    if indices[-1] != total - 1:
        indices.append(total - 1)
    return indices


class CogVLM2Captioner:
    """CogVLM2-Video (zai-org/cogvlm2-llama3-caption) from a local folder, run in its own process.

    The worker (`caption_worker`) runs our plain-torch implementation (`cogvlm2`) with greedy
    decoding, so no code from the checkpoint folder runs and no second Python stack is needed.
    """

    def __init__(self, start: Callable[[], CaptionWorker]) -> None:
        self._start = start
        self.worker = start()

    @classmethod
    def from_pretrained(
        cls, path: Path, device: str = "cpu", dtype: torch.dtype = torch.bfloat16, max_new_tokens: int = 2048
    ) -> CogVLM2Captioner:
        problems = captioner_problems(path)
        if problems:
            raise CheckpointError(captioner_refusal(problems))
        return cls(partial(CaptionWorker, path, CAPTION_QUESTION, device, dtype, max_new_tokens))

    def caption(self, frames: torch.Tensor, fps: float) -> str:
        if self.worker.process.poll() is not None:  # died since the last call: one crash must not fail every job
            log.warning("the captioner process exited (status %s); starting a new one", self.worker.process.returncode)
            self.worker.close()
            self.worker = self._start()
        return self.worker.caption(frames[sample_indices(frames.shape[0], fps)]).text

    def close(self) -> None:
        self.worker.close()


def captioner_refusal(problems: list[str]) -> str:
    """Why a job without a caption cannot run, and the two ways out."""
    return (
        "this job has no caption, so it needs the CogVLM2-Video captioner, which cannot load:\n  "
        + "\n  ".join(problems)
        + "\nDownload it with `vividvr models download --what caption`, or give a caption "
        "(--caption TEXT; the caption setting in Resolve and Nuke)."
    )


def require_captioner(engine: str, settings, checkpoints: Path | None) -> None:
    """A Vivid-VR job without a caption needs CogVLM2-Video: refuse before any model loads, not mid-job."""
    if engine != "vividvr" or settings.caption:
        return
    from vividvr_engine.pipeline import default_checkpoint_root  # heavy: only for jobs that need it

    problems = captioner_problems(Path(checkpoints or default_checkpoint_root()) / CAPTIONER_DIR)
    if problems:
        raise CheckpointError(captioner_refusal(problems))
