"""Captioners: the CogVLM2 driver through a small stand-in model, fixed and recorded captions."""

from __future__ import annotations

import pytest
import torch

from vividvr_engine.captioning import (
    CAPTION_QUESTION,
    CogVLM2Captioner,
    FixedCaptioner,
    RecordedCall,
    RecordedCaptioner,
    sample_indices,
)
from vividvr_engine.errors import CheckpointError


class StandInTokenizer:
    def decode(self, ids, skip_special_tokens=True):
        return " ".join(f"tok{int(i)}" for i in ids) + "  "


class StandInCogVLM:
    """Implements the two calls CogVLM2's remote code exposes, recording what it was given."""

    def __init__(self):
        self.query = self.video = self.generate_kwargs = None

    def build_conversation_input_ids(self, tokenizer, query, images, history, template_version):
        self.query, self.video = query, images[0]
        ids = torch.tensor([1, 2, 3])
        return {"input_ids": ids, "token_type_ids": torch.zeros(3), "attention_mask": torch.ones(3),
                "images": [images[0]]}

    def generate(self, **kwargs):
        self.generate_kwargs = kwargs
        return torch.tensor([[1, 2, 3, 40, 41]])


def test_cogvlm2_is_shown_one_frame_per_second_in_0_255_and_decodes_greedily():
    model = StandInCogVLM()
    captioner = CogVLM2Captioner(model, StandInTokenizer(), dtype=torch.float32)
    frames = torch.rand(49, 3, 8, 8)
    text = captioner.caption(frames, fps=24.0)
    assert text == "tok40 tok41"  # only new tokens, stripped
    assert model.query == CAPTION_QUESTION
    assert model.video.shape == (3, 3, 8, 8)  # frames 0, 24 and 48 (the last) -> [C, T, H, W]
    torch.testing.assert_close(model.video[:, 1], frames[24] * 255)
    assert model.generate_kwargs["do_sample"] is False


def test_frame_sampling_matches_the_reference_rule():
    assert sample_indices(121, 24) == [0, 24, 48, 72, 96, 120]
    assert sample_indices(9, 24) == [0, 8]
    assert sample_indices(1, 25) == [0]
    assert sample_indices(50, 25) == [0, 25, 49]


def test_missing_captioner_folder_names_the_model_and_the_way_out(tmp_path):
    with pytest.raises(CheckpointError, match=r"cogvlm2-llama3-caption.*--caption"):
        CogVLM2Captioner.from_pretrained(tmp_path / "cogvlm2-llama3-caption")


def test_fixed_caption_ignores_the_frames():
    assert FixedCaptioner("a red door").caption(torch.zeros(1, 3, 2, 2), 24) == "a red door"


def test_recorded_captioner_replays_in_order_and_checks_what_it_sees():
    recorded = RecordedCaptioner([RecordedCall(9, 8, 8, 24.0, "first"), RecordedCall(9, 8, 8, 24.0, "second")])
    assert recorded.caption(torch.zeros(9, 3, 8, 8), 24) == "first"
    with pytest.raises(RuntimeError, match="recorded"):
        recorded.caption(torch.zeros(9, 3, 8, 16), 24)
