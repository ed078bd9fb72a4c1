"""Real-ESRGAN: the published RRDBNet checkpoints, loaded safely and run tile by tile.

Why our own network code: the maintained loaders do not import beside the CPU torch this
project pins. `realesrgan` needs `basicsr`, which imports a module current torchvision removed;
`spandrel` imports torchvision at package import (two of its architectures use it), and PyPI's
torchvision fails to load its operators beside the CPU torch wheel. RRDBNet is small and fully
described by the ESRGAN paper and the published key names, so it is written here from that
description and checked against the files' own key layout (strict loading).

Frames are float32 numpy arrays (H, W, 3), RGB in [0, 1], as everywhere in the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vividvr_engine.checkpoints import load_strict, read_weights
from vividvr_engine.errors import CheckpointError, MediaError, SettingsError
from vividvr_engine.planning import Tile, plan_tiles

REALESRGAN_DIR = "RealESRGAN"
MODEL_FILES = {2: "RealESRGAN_x2plus.pth", 4: "RealESRGAN_x4plus.pth"}
# conv_first's input channels tell the scale: x2 and x1 pixel-unshuffle their input first.
SCALE_BY_IN_CHANNELS = {3: 4, 12: 2, 48: 1}
DEFAULT_TILE_OUTPUT = 1024  # output pixels per tile side: about 1 GiB of activations per tile
DEFAULT_OVERLAP = 32  # input pixels shared by neighbouring tiles; each keeps >= half of it as context
NEGATIVE_SLOPE = 0.2
RESIDUAL_SCALE = 0.2


# ------------------------------------------------------------------------------------ network


class DenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the block input and all earlier outputs (growth channels each)."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        for i in range(1, 5):
            setattr(self, f"conv{i}", nn.Conv2d(num_feat + (i - 1) * num_grow_ch, num_grow_ch, 3, 1, 1))
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for i in range(1, 5):
            conv = getattr(self, f"conv{i}")
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), NEGATIVE_SLOPE))
        return x + RESIDUAL_SCALE * self.conv5(torch.cat(features, 1))


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks under one scaled skip connection."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = DenseBlock(num_feat, num_grow_ch)
        self.rdb2 = DenseBlock(num_feat, num_grow_ch)
        self.rdb3 = DenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_SCALE * self.rdb3(self.rdb2(self.rdb1(x)))


@dataclass(frozen=True)
class RRDBConfig:
    """The hyper-parameters a checkpoint's tensor shapes determine."""

    scale: int
    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32

    @property
    def unshuffle(self) -> int:
        """Input pixels folded into channels before the trunk (x4 works at 1x, so x2 folds 2)."""
        return 4 // self.scale


class RRDBNet(nn.Module):
    """ESRGAN's generator with Real-ESRGAN's pixel-unshuffle front for x2 and x1."""

    def __init__(self, config: RRDBConfig) -> None:
        super().__init__()
        self.config = config
        f = config.num_feat
        self.conv_first = nn.Conv2d(3 * config.unshuffle**2, f, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(f, config.num_grow_ch) for _ in range(config.num_block)))
        self.conv_body = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_hr = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_last = nn.Conv2d(f, 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.config.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), NEGATIVE_SLOPE)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), NEGATIVE_SLOPE))


# ------------------------------------------------------------------------------------ loading


def realesrgan_state_dict(payload: Any, source: Path) -> dict[str, torch.Tensor]:
    """The published files keep weights under `params_ema` (preferred: the averaged weights) or `params`."""
    if isinstance(payload, Mapping):
        for key in ("params_ema", "params"):
            state = payload.get(key)
            if isinstance(state, Mapping):
                return dict(state)
    keys = sorted(map(str, payload))[:5] if isinstance(payload, Mapping) else [type(payload).__name__]
    found = ", ".join(keys) or "an empty mapping"
    raise CheckpointError(f"{source}: no 'params_ema' or 'params' state dict in the file (found: {found})")


def rrdb_config(state: Mapping[str, torch.Tensor], source: Path) -> RRDBConfig:
    """Read scale, width, depth and growth from tensor shapes, as the architecture fixes them."""
    first = state.get("conv_first.weight")
    if not isinstance(first, torch.Tensor) or first.ndim != 4:
        raise CheckpointError(f"{source}: not a Real-ESRGAN RRDBNet (no conv_first.weight)")
    scale = SCALE_BY_IN_CHANNELS.get(first.shape[1])
    if scale is None:
        raise CheckpointError(
            f"{source}: RRDBNet with {first.shape[1]} input channels is not a x1, x2 or x4 Real-ESRGAN"
        )
    blocks = {int(k.split(".")[1]) for k in state if k.startswith("body.") and k.split(".")[1].isdigit()}
    grow = state.get("body.0.rdb1.conv1.weight")
    if not blocks or not isinstance(grow, torch.Tensor) or grow.ndim != 4:
        raise CheckpointError(f"{source}: not a Real-ESRGAN RRDBNet (no RRDB trunk under body.N.rdbK)")
    return RRDBConfig(
        scale=scale, num_feat=first.shape[0], num_block=max(blocks) + 1, num_grow_ch=grow.shape[0]
    )


def load_rrdbnet(path: Path, scale: int | None = None) -> RRDBNet:
    """Build the network a published Real-ESRGAN file describes and load it strictly."""
    state = realesrgan_state_dict(read_weights(path), path)
    config = rrdb_config(state, path)
    if scale is not None and config.scale != scale:
        raise CheckpointError(f"{path}: holds a x{config.scale} network, expected x{scale}")
    net = RRDBNet(config)
    load_strict(net, state, path, "a Real-ESRGAN RRDBNet")
    return net.eval().requires_grad_(False)


def realesrgan_path(root: Path, scale: int) -> Path:
    """Where the published x`scale` file lives under a checkpoint root."""
    return Path(root) / REALESRGAN_DIR / MODEL_FILES[scale]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """No preference means the GPU when there is one."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise SettingsError(f"unknown device {device!r}: {exc}") from None


# ----------------------------------------------------------------------------------- frames


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) or (H, W, 3) float frames -> float32 (T, 3, H, W); bad shapes are `MediaError`s."""
    array = np.asarray(frames)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or min(array.shape[:3]) < 1:
        raise MediaError(f"frames must be (T, H, W, 3) RGB with T, H, W >= 1, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise MediaError(f"frames must be floating point in [0, 1], got {array.dtype}")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(0, 3, 1, 2)


def tensor_to_frames(frames: torch.Tensor) -> np.ndarray:
    """float (T, 3, H, W) -> contiguous float32 numpy (T, H, W, 3)."""
    return np.ascontiguousarray(frames.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).numpy())


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of (T, 3, H, W) clipped to [0, 1]; antialiased when shrinking, as a viewer expects."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    shrinking = size[0] < frames.shape[-2] or size[1] < frames.shape[-1]
    resized = F.interpolate(frames, size=size, mode="bicubic", align_corners=False, antialias=shrinking)
    return resized.clamp(0, 1)


# ---------------------------------------------------------------------------------- upscaler


class RealESRGAN:
    """A loaded Real-ESRGAN network that upscales frames of any size in overlapping tiles.

    Each tile is run on its region plus context and keeps only the part it owns (the shared
    planner's ownership rule), so tiles never blend and a tile's context is at least half the
    overlap. Tiling bounds memory: a 4K frame at x2 never holds more than one tile's activations.
    """

    def __init__(
        self,
        net: RRDBNet,
        device: str | torch.device | None = None,
        *,
        tile: int | None = None,
        overlap: int = DEFAULT_OVERLAP,
    ) -> None:
        self.net = net
        self.device = resolve_device(device)
        self.net.to(self.device)
        self.scale = net.config.scale
        self.tile = DEFAULT_TILE_OUTPUT // self.scale if tile is None else tile
        self.overlap = overlap
        unit = net.config.unshuffle
        if self.tile and (self.tile % unit or self.overlap % unit or not 0 <= self.overlap < self.tile):
            raise SettingsError(
                f"Real-ESRGAN tile {self.tile} and overlap {self.overlap} must be multiples of {unit}"
                " with 0 <= overlap < tile (tile 0 disables tiling)"
            )

    @classmethod
    def from_file(
        cls, path: Path, scale: int | None = None, device: str | torch.device | None = None, **tiling: int
    ) -> RealESRGAN:
        return cls(load_rrdbnet(Path(path), scale), device, **tiling)

    @torch.inference_mode()
    def upscale_tensor(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, H, W) in [0, 1] -> (T, 3, s*H, s*W) in [0, 1], on the CPU."""
        return torch.cat([self._upscale_one(frame[None]) for frame in frames])

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        """(T, H, W, 3) or (H, W, 3) float frames -> (T, s*H, s*W, 3) float32."""
        return tensor_to_frames(self.upscale_tensor(frames_to_tensor(frames)))

    def _upscale_one(self, frame: torch.Tensor) -> torch.Tensor:
        unit, s = self.net.config.unshuffle, self.scale
        height, width = frame.shape[-2:]
        x = frame.to(self.device).clamp(0, 1)
        # Pixel-unshuffle needs sides divisible by its factor; replicate the edge to get there.
        x = F.pad(x, (0, -width % unit, 0, -height % unit), mode="replicate") if unit > 1 else x
        rows, cols = (self.plan_axis(side // unit) for side in x.shape[-2:])
        out = torch.empty((1, 3, x.shape[-2] * s, x.shape[-1] * s), dtype=torch.float32)
        step = unit * s  # output pixels per planning unit
        for r in rows:
            for c in cols:
                y = self.net(x[..., r.start * unit : r.stop * unit, c.start * unit : c.stop * unit])
                out[..., r.own_start * step : r.own_stop * step, c.own_start * step : c.own_stop * step] = y[
                    ...,
                    (r.own_start - r.start) * step : (r.own_stop - r.start) * step,
                    (c.own_start - c.start) * step : (c.own_stop - c.start) * step,
                ].to("cpu", torch.float32)
        return out[..., : height * s, : width * s].clamp_(0, 1)

    def plan_axis(self, units: int) -> list[Tile]:
        """Tiles along one side of `units` planning units (pixels, or 2x2 blocks for x2)."""
        unit = self.net.config.unshuffle
        if not self.tile:
            return plan_tiles(units, units, units)
        return plan_tiles(units, self.tile // unit, (self.tile - self.overlap) // unit)
