"""Will a job fit? An estimate from the checkpoint files actually configured, checked before a job is accepted.

Refusing at submission with the setting to change beats running out of memory two hours into an
overnight job. The weights are counted from the files themselves (safetensors headers: 8-byte
length, then a JSON table of tensor shapes; no tensor data is read), converted to the dtype the
engine runs in on that device; the activations follow the job's geometry (tokens of one latent
tile of one temporal window, the window's pixels, one VAE tile). Every term is listed in
docs/daemon.md; `memory_limit_gib` in the daemon config overrides the device's own budget when
the estimate is off for a particular machine.

The figure is per device: a job split over several devices runs a full copy of the models on
each and evaluates one (window, tile) at a time there, so each device needs what one would.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from vividvr_engine.planning import PATCH, VAE_SPATIAL, generation_side, latent_frames, padded_window_frames
from vividvr_engine.settings import RestoreSettings
from vividvr_engine.weights_check import WeightsProblem, declared_tensors, weight_set_files

GIB = 1024**3
FLOAT32 = 4
BF16 = 2
TEXT_TOKENS = 226  # T5 tokens prepended to the video tokens (pipeline.MAX_TEXT_TOKENS)
# Hidden-width tensors alive at once per token inside one block: the residual stream, its norm,
# and the MLP's 4x-wide inner activation before and after GELU (the attention part needs fewer:
# q, k, v and its output; fused SDPA keeps no token-by-token matrix).
LIVE_WIDTHS = 10
VAE_FRAME_BATCH = 8  # pixel frames the tiled CogVideoX VAE convolves at once (2 latent frames)
VAE_LIVE_MAPS = 3  # a conv's input, its output and the causal conv cache, at full-resolution width
SMALL_MODEL_WEIGHTS = {"realesrgan": 256 * 1024**2}  # RRDBNet x2/x4 + CRAFT, fp32, with workspace
TEXTFIX_WEIGHTS = SMALL_MODEL_WEIGHTS["realesrgan"]
# setting -> (flag of `vividvr restore`/`submit`, advice)
ADVICE = {
    "offload": ("--offload model", "set offload to model"),
    "tile_size": ("--tile-size", "lower tile_size"),
    "num_temporal_process_frames": ("--window-frames", "lower num_temporal_process_frames"),
    "upscale": ("--upscale", "lower upscale"),
    "caption": ("--caption TEXT", "give a caption (then no captioning model is loaded)"),
}


class CheckpointUnreadable(ValueError):
    """A weights file the estimate needs is missing or is not what its name says."""


@dataclass(frozen=True)
class ModelSize:
    """What the estimate needs from a Vivid-VR checkpoint folder: parameter counts and widths."""

    transformer: int  # parameters
    controlnet: int
    text_encoder: int
    vae: int
    extra_bytes: int  # Vivid-VR's .pt state dicts (connectors, projector, patch embedding): size on disk
    captioner: int  # 0 when no captioner folder is there
    hidden: int  # transformer width: heads x head dim
    controlnet_blocks: int  # the controlnet's states are all kept while the transformer runs
    vae_tile: tuple[int, int]  # pixel tile the tiled VAE works on (half its sample size)
    vae_channels: int  # widest full-resolution VAE feature map


def weights_parameters(folder: Path, stem: str) -> int:
    """Parameters of `stem`.safetensors in `folder`, or of every shard its `.index.json` names (headers only)."""
    try:
        files = weight_set_files(folder, stem)
        return sum(math.prod(t["shape"]) for path in files for t in declared_tensors(path).values())
    except (WeightsProblem, OSError, KeyError, TypeError) as exc:
        raise CheckpointUnreadable(str(exc)) from None


def _config(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointUnreadable(f"{path}: {exc}") from None


def read_model(root: Path) -> ModelSize:
    """Sizes of the Vivid-VR checkpoints under `root` (the published layout), from headers and configs."""
    from vividvr_engine.checkpoints import CheckpointPaths

    paths = CheckpointPaths.from_root(root)
    cog = paths.cogvideox
    transformer = _config(cog / "transformer" / "config.json")
    vae = _config(cog / "vae" / "config.json")
    extras = (paths.connectors, paths.control_feat_proj, paths.control_patch_embed)
    missing = [str(p) for p in extras if not p.is_file()]
    if missing:
        raise CheckpointUnreadable(f"missing {', '.join(missing)}")
    return ModelSize(
        transformer=weights_parameters(cog / "transformer", "diffusion_pytorch_model"),
        controlnet=weights_parameters(paths.controlnet, "diffusion_pytorch_model"),
        text_encoder=weights_parameters(cog / "text_encoder", "model"),
        vae=weights_parameters(cog / "vae", "diffusion_pytorch_model"),
        extra_bytes=sum(p.stat().st_size for p in extras),
        captioner=weights_parameters(paths.captioner, "model") if paths.captioner else 0,
        hidden=int(transformer["num_attention_heads"]) * int(transformer["attention_head_dim"]),
        controlnet_blocks=int(_config(paths.controlnet / "config.json")["num_layers"]),
        vae_tile=(int(vae["sample_height"]) // 2, int(vae["sample_width"]) // 2),
        vae_channels=int(vae["block_out_channels"][0]),
    )


def run_dtype_bytes(device: str) -> int:
    """The engine runs in bfloat16 on a GPU and float32 on the CPU (VividVREngine.create)."""
    return BF16 if device.startswith("cuda") else FLOAT32


@dataclass(frozen=True)
class Estimate:
    bytes: int  # peak on one device
    knobs: tuple[str, ...]  # settings that lower the estimate, most effective first
    terms: tuple[tuple[str, int], ...] = ()  # the parts, for a dry run


def estimate(
    engine: str,
    settings: RestoreSettings,
    height: int,
    width: int,
    frames: int,
    device: str = "cuda:0",
    model: ModelSize | None = None,
) -> Estimate:
    """Peak memory on `device` of one job on `frames` frames of a `height` x `width` source.

    `model` (from `read_model`) is needed for the vividvr engine.
    """
    out_h, out_w = settings.output_size(height, width)
    window = padded_window_frames(min(settings.num_temporal_process_frames, frames))
    if engine != "vividvr":
        # Frame engines: source window, restored window and the float32 copies the sink writes from.
        pixels = window * (height * width + 2 * out_h * out_w) * 3 * FLOAT32
        weights = SMALL_MODEL_WEIGHTS.get(engine, 0)
        terms = (("weights", weights), ("window pixels", pixels))
        return Estimate(weights + pixels, ("num_temporal_process_frames", "upscale"), terms)
    if model is None:
        raise ValueError("the vividvr estimate needs the checkpoint sizes (read_model)")
    dt = run_dtype_bytes(device)
    offloading = settings.offload == "model" and device.startswith("cuda")  # on the CPU nothing moves
    gen_h, gen_w = (generation_side(side, settings.tile_size) for side in (out_h, out_w))
    tile_h = min(settings.tile_size, gen_h // VAE_SPATIAL)
    tile_w = min(settings.tile_size, gen_w // VAE_SPATIAL)
    video_tokens = (tile_h // PATCH) * (tile_w // PATCH) * (latent_frames(window) // PATCH)
    batch = 2 if settings.guidance_scale > 1 else 1  # classifier-free guidance doubles the batch
    denoise = batch * (video_tokens + TEXT_TOKENS) * model.hidden * dt * LIVE_WIDTHS
    controlnet_states = batch * video_tokens * model.hidden * dt * model.controlnet_blocks
    vae_tile = min(gen_h, model.vae_tile[0]) * min(gen_w, model.vae_tile[1])
    vae_work = vae_tile * VAE_FRAME_BATCH * model.vae_channels * dt * VAE_LIVE_MAPS
    window_pixels = 2 * window * 3 * gen_h * gen_w * dt  # the window in, and decoded, on the device
    text_encoder, vae = model.text_encoder * dt, model.vae * dt
    resident = (model.transformer + model.controlnet) * dt + model.extra_bytes
    resident += 0 if offloading else text_encoder + vae
    resident += TEXTFIX_WEIGHTS if settings.textfix else 0
    # CogVLM2-Video's worker keeps its weights on the same device for the engine's lifetime
    captioner = 0 if settings.caption else model.captioner * BF16
    resident += captioner
    phases = {
        "denoise activations": denoise + controlnet_states,
        "VAE tile and window pixels": vae_work + window_pixels + (vae if offloading else 0),
        "text encoder phase": text_encoder if offloading else 0,
    }
    peak_phase = max(phases, key=lambda name: phases[name])
    terms = (("resident weights", resident), *phases.items())
    knobs = (() if offloading or not device.startswith("cuda") else ("offload",)) + (
        "tile_size",
        "num_temporal_process_frames",
    ) + (("caption",) if captioner else ())
    return Estimate(resident + phases[peak_phase], knobs, terms)


def advice(need: Estimate, settings: RestoreSettings) -> str:
    """The settings to change, with their flags and current values."""
    changes = []
    for knob in need.knobs:
        flag, change = ADVICE[knob]
        current = "" if knob in ("offload", "caption") else f" (now {getattr(settings, knob)})"
        changes.append(f"{change}{current} with {flag}")
    return ", or ".join(changes)


def refusal(need: Estimate, available: int, device: str, settings: RestoreSettings) -> str | None:
    """None when the job fits, else a one-line message naming the settings to change."""
    if need.bytes <= available:
        return None
    return (
        f"this job needs about {need.bytes / GIB:.2f} GiB on {device} but {available / GIB:.2f} GiB is available;"
        f" {advice(need, settings)}, or raise memory_limit_gib in the daemon config if the estimate is wrong"
    )
