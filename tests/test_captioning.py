"""Captioners: CogVLM2-Video's real code path on a tiny random-weight model in its worker process,
its inputs (frames, token layout, positions), and the fixed and recorded captioners."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from cogvlm2_support import (
    EOS,
    PUBLISHED_CONFIG,
    PUBLISHED_SHAPES,
    PUBLISHED_SHARD_BYTES,
    PUBLISHED_TENSORS,
    make_tiny_cogvlm2,
)

from vividvr_engine.caption_worker import CaptionerCrashed, CaptionWorker, Describer
from vividvr_engine.captioning import (
    CAPTION_QUESTION,
    CogVLM2Captioner,
    FixedCaptioner,
    RecordedCall,
    RecordedCaptioner,
    sample_indices,
)
from vividvr_engine.checkpoints import captioner_problems
from vividvr_engine.cogvlm2 import (
    CLIP_MEAN,
    CLIP_STD,
    LANGUAGE,
    VISION,
    CogVLM2Config,
    CogVLM2Video,
    SelfAttention,
    conversation_ids,
    frames_to_pixels,
    generate,
    load_model,
    position_ids,
    rotary,
)
from vividvr_engine.errors import CheckpointError

MAX_TOKENS = 12


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoints") / "cogvlm2-llama3-caption"
    make_tiny_cogvlm2(folder)
    return folder


@pytest.fixture(scope="module")
def describer(tiny: Path) -> Describer:
    return Describer.load(tiny, "cpu", torch.float32, MAX_TOKENS)


def test_the_full_size_network_holds_exactly_the_published_tensors():
    with torch.device("meta"):
        model = CogVLM2Video(CogVLM2Config.from_dict(PUBLISHED_CONFIG))
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    layers = PUBLISHED_CONFIG["num_hidden_layers"]
    assert len(shapes) + layers == PUBLISHED_TENSORS  # plus one cached rotary constant per layer
    assert {name: shapes.get(name) for name in PUBLISHED_SHAPES} == PUBLISHED_SHAPES
    rotary = layers * PUBLISHED_CONFIG["hidden_size"] // PUBLISHED_CONFIG["num_attention_heads"] // 2
    payload = 2 * (sum(p.numel() for p in model.parameters()) + rotary)  # bfloat16
    headers = sum(PUBLISHED_SHARD_BYTES) - payload
    assert 0 < headers < 200 * PUBLISHED_TENSORS  # what is left is the shards' JSON headers


def test_frame_sampling_matches_the_reference_rule():
    assert sample_indices(121, 24) == [0, 24, 48, 72, 96, 120]
    assert sample_indices(9, 24) == [0, 8]
    assert sample_indices(1, 25) == [0]
    assert sample_indices(50, 25) == [0, 25, 49]


def test_frames_are_clip_normalised_short_side_scaled_and_centre_cropped():
    grey = torch.full((2, 3, 40, 60), 0.5)
    pixels = frames_to_pixels(grey, 224)
    assert pixels.shape == (2, 3, 224, 224)
    expected = (0.5 - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    torch.testing.assert_close(pixels[1, :, 100, 7], expected)
    ramp = torch.linspace(0, 1, 60).expand(1, 3, 40, 60)
    mirrored = frames_to_pixels(ramp.flip(-1), 224)  # a centred crop of a mirrored frame is the mirrored crop
    torch.testing.assert_close(frames_to_pixels(ramp, 224).flip(-1), mirrored, atol=1e-5, rtol=0)
    assert frames_to_pixels(torch.rand(1, 3, 90, 30), 224).shape == (1, 3, 224, 224)  # portrait


def test_each_frames_patch_tokens_share_one_position_and_its_edges_count_as_text():
    types = torch.tensor([LANGUAGE, VISION, VISION, VISION, VISION, LANGUAGE, LANGUAGE, VISION, VISION, VISION])
    assert position_ids(types).tolist() == [0, 1, 2, 2, 3, 4, 5, 6, 7, 8]


def test_the_chat_template_holds_66_slots_per_frame_then_its_index_then_the_question(describer: Describer):
    config = describer.model.config
    assert config.tokens_per_frame == 66  # 224 / 14 = 16 patches a side, 2x2 conv -> 64, plus boi and eoi
    tokenizer = describer.tokenizer
    ids, types = conversation_ids(tokenizer, "What?", 12, config)
    question = tokenizer.encode("Question: What? Answer:", add_special_tokens=False)
    stamps = sum(len(str(i)) for i in range(12))  # one byte token per digit in the tiny tokenizer
    assert ids.shape == types.shape == (1 + 12 * 66 + stamps + len(question),)
    assert int((types == VISION).sum()) == 12 * 66
    assert ids[0] == tokenizer.bos_token_id and ids[1:67].eq(config.pad_token_id).all()
    assert tokenizer.decode(ids[67:68]) == "0" and tokenizer.decode(ids[-len(question) :]) == "Question: What? Answer:"


def test_query_heads_share_key_value_heads_in_consecutive_groups(describer: Describer):
    config = describer.model.config  # 4 query heads over 2 key/value heads: heads 0-1 read kv 0, 2-3 read kv 1
    attention = SelfAttention(config)
    hidden, dim = config.hidden_size, config.head_dim
    with torch.no_grad():
        weight = torch.zeros(sum(attention.split), hidden)
        weight[hidden + 3 * dim :] = 1.0 / hidden  # the values of kv head 1 are 1, those of kv head 0 are 0
        attention.language_expert_query_key_value.weight.copy_(weight)
        attention.language_expert_dense.weight.copy_(torch.eye(hidden))
        cos, sin = rotary(torch.arange(3)[None], dim)
        out, _ = attention(torch.ones(1, 3, hidden), cos, sin, None)
    per_head = out.view(3, config.num_attention_heads, dim).mean(dim=(0, 2))
    torch.testing.assert_close(per_head, torch.tensor([0.0, 0.0, 1.0, 1.0]))


def test_cached_greedy_decoding_matches_recomputing_the_whole_sequence(describer: Describer):
    model, config = describer.model, describer.model.config
    frames = torch.rand(2, 3, 30, 45, generator=torch.Generator().manual_seed(1))
    pixels = frames_to_pixels(frames, config.vision.image_size)
    ids, types = conversation_ids(describer.tokenizer, CAPTION_QUESTION, 2, config)
    tokens = generate(model, ids, types, pixels, MAX_TOKENS)
    assert len(tokens) == MAX_TOKENS and EOS not in tokens
    other, _ = model(ids[None], position_ids(types)[None], types[None], pixels.flip(0))
    first, _ = model(ids[None], position_ids(types)[None], types[None], pixels)
    assert not torch.allclose(first, other)  # the frames reach the decoder, in order
    for k in (0, 5, MAX_TOKENS - 1):
        full_ids = torch.cat((ids, torch.tensor(tokens[:k], dtype=ids.dtype)))
        full_types = torch.cat((types, torch.full((k,), LANGUAGE)))
        logits, _ = model(full_ids[None], position_ids(full_types)[None], full_types[None], pixels)
        assert int(logits.argmax(-1)) == tokens[k]


def test_the_worker_process_captions_the_sampled_frames_deterministically(tiny: Path, describer: Describer):
    captioner = CogVLM2Captioner.from_pretrained(tiny, device="cpu", dtype=torch.float32, max_new_tokens=MAX_TOKENS)
    try:
        assert captioner.worker.pid != os.getpid()
        frames = torch.rand(49, 3, 40, 60, generator=torch.Generator().manual_seed(2))
        text = captioner.caption(frames, fps=24.0)
        assert isinstance(text, str) and text
        assert captioner.caption(frames, fps=24.0) == text
        wanted = sample_indices(49, 24.0)
        assert text == describer.describe(frames[wanted], CAPTION_QUESTION)  # frames 0, 24, 48 and nothing else
        assert captioner.worker.caption(frames[wanted]).frames == len(wanted) == 3
    finally:
        captioner.close()
    assert captioner.worker.process.poll() is not None  # closed: the child has gone


def test_a_killed_worker_is_reported_not_hung_on_and_the_captioner_replaces_it(tiny: Path):
    worker = CaptionWorker(tiny, CAPTION_QUESTION, "cpu", torch.float32, MAX_TOKENS)
    os.kill(worker.pid, signal.SIGKILL)
    worker.process.wait()
    with pytest.raises(CaptionerCrashed, match=r"captioner process .* exited with status -9"):
        worker.caption(torch.rand(1, 3, 8, 8))
    worker.close()
    captioner = CogVLM2Captioner.from_pretrained(tiny, device="cpu", dtype=torch.float32, max_new_tokens=2)
    first = captioner.worker.pid
    os.kill(first, signal.SIGKILL)
    captioner.worker.process.wait()
    assert captioner.caption(torch.rand(2, 3, 8, 8), fps=24)  # the next job gets a fresh process
    assert captioner.worker.pid != first
    captioner.close()


def test_weights_that_do_not_fit_the_config_are_refused_by_the_worker_naming_the_tensor(tiny: Path, tmp_path: Path):
    broken = tmp_path / "cogvlm2-llama3-caption"
    broken.mkdir()
    for item in tiny.iterdir():
        (broken / item.name).symlink_to(item)
    (broken / "config.json").unlink()
    config = json.loads((tiny / "config.json").read_text())
    config["intermediate_size"] = 64
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"mlp\.(language_mlp\.)?\w+\.weight has shape"):
        CogVLM2Captioner.from_pretrained(broken, device="cpu", dtype=torch.float32)


def test_an_incomplete_folder_lists_every_missing_file(tiny: Path, tmp_path: Path):
    partial = tmp_path / "cogvlm2-llama3-caption"
    partial.mkdir()
    for name in ("config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors"):
        (partial / name).symlink_to(tiny / name)
    problems = captioner_problems(partial)
    assert any("tokenizer.json" in p for p in problems)
    assert any("model-00002-of-00002.safetensors" in p for p in problems)
    assert captioner_problems(tiny) == []
    with pytest.raises(CheckpointError, match=r"model-00002"):
        load_model(partial)


def test_missing_captioner_folder_names_the_model_and_both_ways_out(tmp_path):
    refusal = r"(?s)cogvlm2-llama3-caption.*vividvr models download --what caption.*--caption"
    with pytest.raises(CheckpointError, match=refusal):
        CogVLM2Captioner.from_pretrained(tmp_path / "cogvlm2-llama3-caption")


def test_fixed_caption_ignores_the_frames():
    assert FixedCaptioner("a red door").caption(torch.zeros(1, 3, 2, 2), 24) == "a red door"


def test_recorded_captioner_replays_in_order_and_checks_what_it_sees():
    recorded = RecordedCaptioner([RecordedCall(9, 8, 8, 24.0, "first"), RecordedCall(9, 8, 8, 24.0, "second")])
    assert recorded.caption(torch.zeros(9, 3, 8, 8), 24) == "first"
    with pytest.raises(RuntimeError, match="recorded"):
        recorded.caption(torch.zeros(9, 3, 8, 16), 24)
