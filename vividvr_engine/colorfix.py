"""Colour fix: give restored frames the colour statistics of the resized input.

AdaIN (the reference default) matches per-frame, per-channel mean and unbiased standard
deviation; the wavelet fix keeps the restored detail and takes the low frequencies of the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-5
WAVELET_LEVELS = 5


def _mean_std(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = frames.flatten(2)
    return flat.mean(dim=2)[..., None, None], (flat.var(dim=2) + EPS).sqrt()[..., None, None]


def adain(restored: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """restored, reference: [T, 3, H, W]; result unclipped."""
    mean, std = _mean_std(restored)
    ref_mean, ref_std = _mean_std(reference)
    return (restored - mean) / std * ref_std + ref_mean


def _wavelet_blur(frames: torch.Tensor, radius: int) -> torch.Tensor:
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], dtype=frames.dtype) / 16
    kernel = kernel.to(frames.device)[None, None].repeat(frames.shape[1], 1, 1, 1)
    padded = F.pad(frames, (radius,) * 4, mode="replicate")
    return F.conv2d(padded, kernel, groups=frames.shape[1], dilation=radius)


def _low_frequencies(frames: torch.Tensor) -> torch.Tensor:
    for level in range(WAVELET_LEVELS):
        frames = _wavelet_blur(frames, 2**level)
    return frames


def wavelet(restored: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Restored high frequencies plus reference low frequencies; result unclipped."""
    return restored - _low_frequencies(restored) + _low_frequencies(reference)


def color_fix(restored: torch.Tensor, reference: torch.Tensor, method: str) -> torch.Tensor:
    """Apply the named fix and clip to [0, 1]."""
    if method == "adain":
        restored = adain(restored, reference)
    elif method == "wavelet":
        restored = wavelet(restored, reference)
    elif method != "none":
        raise ValueError(f"unknown colour fix {method!r}")
    return restored.clamp(0, 1)
