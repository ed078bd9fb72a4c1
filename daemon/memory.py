"""Will a job fit? A deliberately simple estimate, checked before a job is accepted.

Refusing at submission with the setting to change beats running out of memory two hours into an
overnight job. The figures are rough upper bounds per engine (weights resident on the device
plus the largest working set of one tile of one temporal window); the daemon's
`memory_limit_gib` option overrides the device's free memory when the estimate is off for a
particular machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from vividvr_engine.planning import VAE_SPATIAL, generation_side, latent_frames, padded_window_frames
from vividvr_engine.settings import RestoreSettings

GIB = 1024**3
FLOAT32 = 4
BF16 = 2
# Vivid-VR (CogVideoX1.5-5B transformer + control branch + 3D VAE + T5 text encoder), bf16.
VIVIDVR_WEIGHTS = 24 * GIB
VIVIDVR_OFFLOADABLE = 10 * GIB  # T5-XXL and the VAE, off the GPU between phases with offload "model"
VIVIDVR_HIDDEN = 3072
VIVIDVR_LAYERS_LIVE = 4  # activations kept at once per token (attention + MLP, fused kernels)
VIVIDVR_VAE_BYTES_PER_PIXEL_FRAME = 96  # 3D VAE decode of one window tile, bf16 with its caches
SMALL_MODEL_WEIGHTS = {"realesrgan": 256 * 1024**2}  # RRDBNet x2/x4 + CRAFT, fp32, with workspace


@dataclass(frozen=True)
class Estimate:
    bytes: int
    knobs: tuple[str, ...]  # settings that lower the estimate, most effective first


def estimate(engine: str, settings: RestoreSettings, height: int, width: int, frames: int) -> Estimate:
    """Peak device memory of one job on `frames` frames of a `height` x `width` source."""
    out_h, out_w = settings.output_size(height, width)
    window = padded_window_frames(min(settings.num_temporal_process_frames, frames))
    if engine != "vividvr":
        # Frame engines: source window, restored window and the float32 copies the sink writes from.
        frames = window * (height * width + 2 * out_h * out_w) * 3 * FLOAT32
        return Estimate(SMALL_MODEL_WEIGHTS.get(engine, 0) + frames, ("num_temporal_process_frames", "upscale"))
    tile_px = min(settings.tile_size * VAE_SPATIAL, generation_side(max(out_h, out_w), settings.tile_size))
    tokens = (tile_px // VAE_SPATIAL // 2) ** 2 * latent_frames(window) // 2
    activations = tokens * VIVIDVR_HIDDEN * BF16 * VIVIDVR_LAYERS_LIVE
    vae = tile_px * tile_px * window * VIVIDVR_VAE_BYTES_PER_PIXEL_FRAME
    weights = VIVIDVR_WEIGHTS - (VIVIDVR_OFFLOADABLE if settings.offload == "model" else 0)
    knobs = ("tile_size", "num_temporal_process_frames") + (("offload",) if settings.offload == "none" else ())
    return Estimate(weights + activations + vae, knobs)


def refusal(need: Estimate, available: int, device: str, settings: RestoreSettings) -> str | None:
    """None when the job fits, else a one-line message naming the settings to change."""
    if need.bytes <= available:
        return None
    changes = [
        "set offload to model" if k == "offload" else f"lower {k} (now {getattr(settings, k)})" for k in need.knobs
    ]
    return (
        f"this job needs about {need.bytes / GIB:.2f} GiB on {device} but {available / GIB:.2f} GiB is free;"
        f" {', or '.join(changes)}, or raise memory_limit_gib in the daemon config if the estimate is wrong"
    )
