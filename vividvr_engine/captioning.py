"""Captioners: the text prompt for each window and tile comes from one of these.

- `CogVLM2Captioner`: the authors' choice, CogVLM2-Video loaded from a local folder.
- `FixedCaptioner`: one caption from the user; no model is loaded at all.
- `RecordedCaptioner`: answers replayed in call order (conformance vectors record them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from vividvr_engine.errors import CheckpointError

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
    """CogVLM2-Video (zai-org/cogvlm2-llama3-caption) from a local folder; greedy decoding.

    Its authors ship the model code with the weights, so it loads with `trust_remote_code`;
    `local_files_only` keeps it from ever reaching the network.
    """

    def __init__(self, model, tokenizer, device: str | torch.device = "cpu", dtype: torch.dtype = torch.bfloat16):
        self.model, self.tokenizer, self.device, self.dtype = model, tokenizer, torch.device(device), dtype

    @classmethod
    def from_pretrained(cls, path: Path, device: str = "cpu", dtype: torch.dtype = torch.bfloat16):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not (path / "config.json").is_file():
            raise CheckpointError(
                f"missing {path / 'config.json'}: the CogVLM2-Video captioner, published at "
                "https://huggingface.co/zai-org/cogvlm2-llama3-caption (or pass --caption to skip captioning)"
            )
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=True, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            path, torch_dtype=dtype, trust_remote_code=True, local_files_only=True
        ).eval()
        return cls(model.to(device), tokenizer, device, dtype)

    @torch.no_grad()
    def caption(self, frames: torch.Tensor, fps: float) -> str:
        video = (frames * 255)[sample_indices(frames.shape[0], fps)].permute(1, 0, 2, 3)  # [C, T, H, W]
        inputs = self.model.build_conversation_input_ids(
            tokenizer=self.tokenizer, query=CAPTION_QUESTION, images=[video], history=[], template_version="chat"
        )
        outputs = self.model.generate(
            input_ids=inputs["input_ids"].unsqueeze(0).to(self.device),
            token_type_ids=inputs["token_type_ids"].unsqueeze(0).to(self.device),
            attention_mask=inputs["attention_mask"].unsqueeze(0).to(self.device),
            images=[[inputs["images"][0].to(self.device, self.dtype)]],
            max_new_tokens=2048,
            pad_token_id=128002,
            do_sample=False,
        )
        prompt_length = inputs["input_ids"].shape[0]
        return self.tokenizer.decode(outputs[0, prompt_length:], skip_special_tokens=True).strip()
