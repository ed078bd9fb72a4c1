"""Denoising speed and GPU memory of the real CogVideoX1.5-5B + Vivid-VR architecture.

Part 1 (random weights, nothing downloaded): builds the published architecture from its config
(42 blocks, width 3072, 6-block controlnet, T5-XXL, the CogVideoX VAE) in bfloat16 and times one
1024x1024 tile of a 121-frame window - seconds per denoising step (controlnet + transformer over
the CFG batch) and peak GPU memory - for each offload mode, eager and (`--compile`) with each
transformer block compiled by `torch.compile` (the engine's opt-in `compile_blocks`), naming the
attention kernel SDPA ran (flash or memory-efficient, from the profiler's op names).

Part 2 (`--gpus 1 2 ...`, needs checkpoints on disk since every worker loads them): a whole
restore of one 1024x1024 x 121-frame clip (at 512-px tiles: 9 tiles, so up to 9 workers) on
1, 2, ... GPUs: seconds per step and each GPU's peak memory.

    .venv/bin/python benchmarks/engine_gpu.py [--compile]                     # part 1, needs CUDA
    .venv/bin/python benchmarks/engine_gpu.py --gpus 1 2 4 --checkpoints DIR  # part 2
    .venv/bin/python benchmarks/engine_gpu.py --tiny --gpus 1 2               # both, tiny configs, CPU is fine
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from vividvr_engine.planning import latent_frames, padded_window_frames

TINY = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "checkpoints"

# CogVideoX1.5-5B (zai-org) transformer and Vivid-VR controlnet, as published.
REAL_TRANSFORMER = dict(
    num_attention_heads=48, attention_head_dim=64, in_channels=16, out_channels=16, time_embed_dim=512,
    text_embed_dim=4096, num_layers=42, sample_width=300, sample_height=300, sample_frames=81, patch_size=2,
    patch_size_t=2, temporal_compression_ratio=4, max_text_seq_length=224, use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=False, patch_bias=False, ofs_embed_dim=None,
)
REAL_T5 = dict(d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24, vocab_size=32128,
               feed_forward_proj="gated-gelu", is_encoder_decoder=False)


def build(tiny: bool, device: str, dtype: torch.dtype):
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    from vividvr_engine.checkpoints import CheckpointPaths, VividVRModels, load_models
    from vividvr_engine.models import CogVideoXVividVRControlNetModel, VividVRTransformer

    if tiny:
        return load_models(CheckpointPaths.from_root(TINY), dtype)
    with torch.device(device):
        base = CogVideoXTransformer3DModel(**REAL_TRANSFORMER).to(dtype)
        transformer = VividVRTransformer(base).to(dtype)
        controlnet = CogVideoXVividVRControlNetModel(**{**REAL_TRANSFORMER, "num_layers": 6}).to(dtype)
        text_encoder = T5EncoderModel(T5Config(**REAL_T5)).to(dtype)
        vae = AutoencoderKLCogVideoX().to(dtype)
    scheduler = CogVideoXDPMScheduler(prediction_type="v_prediction", rescale_betas_zero_snr=True,
                                      timestep_spacing="trailing", beta_schedule="scaled_linear",
                                      beta_start=0.00085, beta_end=0.012)
    return VividVRModels(None, text_encoder, vae, transformer, controlnet, scheduler)


def attention_kernel(engine, tile: int, frames: int) -> str:
    """Which scaled-dot-product-attention kernel one controlnet pass dispatches to."""
    from torch.profiler import profile

    inputs = _inputs(engine, tile, frames)
    with torch.no_grad(), profile() as prof:
        engine.models.controlnet(*inputs[:2], inputs[2], inputs[4], inputs[3])
    names = {event.name for event in prof.events()}
    for kernel, label in (("flash", "flash"), ("efficient", "memory-efficient"), ("cudnn", "cudnn"),
                          ("math", "math")):
        if any("scaled_dot_product" in n and kernel in n for n in names):
            return label
    return "unknown"


def _inputs(engine, tile: int, frames: int):
    models, device, dtype = engine.models, engine.device, engine.dtype
    shape = (2, latent_frames(padded_window_frames(frames)), 16, tile, tile)
    from vividvr_engine.pipeline import _rotary_embedding

    latents = torch.randn(shape, device=device, dtype=dtype)
    text = torch.randn(2, 226, models.transformer.config.text_embed_dim, device=device, dtype=dtype)
    control = torch.randn((1, *shape[1:]), device=device, dtype=dtype)  # one control row for both CFG copies
    rope = _rotary_embedding(shape, models.transformer.config, device)
    return latents, text, control, rope, torch.tensor([999], device=device)


def time_steps(engine, tile: int, frames: int, steps: int) -> tuple[float, float]:
    """Seconds per step and peak memory (GiB) for `steps` guided evaluations of one latent tile."""
    models, device = engine.models, engine.device
    latents, text, control, rope, timestep = _inputs(engine, tile, frames)
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        for _ in range(steps + 1):  # the first is warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            states = models.controlnet(latents, text, control, timestep, rope)
            models.transformer(latents, text, timestep, rope, states, control)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return sum(times[1:]) / steps, peak


class ProceduralClip:
    def __init__(self, frames: int, side: int) -> None:
        self.num_frames, self.height, self.width, self.fps = frames, side, side, Fraction(24)

    def frames(self, start: int = 0):
        y, x = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32) / self.height
        for index in range(start, self.num_frames):
            yield np.stack([x, y, np.full_like(x, index / max(1, self.num_frames))], axis=-1)


class NullSink:
    def write_segment(self, first: int, frames: np.ndarray) -> None:
        pass


def scaling(gpus: list[int], checkpoints: Path, tiny: bool, side: int, frames: int, tile_size: int,
            steps: int) -> None:
    """Whole restores spread over 1, 2, ... devices: seconds per step and peak memory per device."""
    from vividvr_engine.pipeline import VividVREngine
    from vividvr_engine.settings import RestoreSettings

    cuda = torch.cuda.is_available() and not tiny
    settings = RestoreSettings(num_inference_steps=steps, upscale=1.0, tile_size=tile_size,
                               num_temporal_process_frames=121 if not tiny else 17, caption="a city street")
    engine = VividVREngine.create(checkpoints, "cuda:0" if cuda else "cpu")
    print(f"\nwhole restore, {side}x{side} x {frames} frames, {tile_size * 8}-px tiles, {steps} step(s)")
    print(f"{'devices':>8} {'s/step':>8} {'peak GiB per device':>30}")
    for count in gpus:
        devices = [f"cuda:{i}" for i in range(count)] if cuda else ["cpu"] * count
        marks: dict[str, float] = {}

        def mark(progress, marks=marks) -> None:
            marks.setdefault(progress.phase, time.perf_counter())

        engine.restore(ProceduralClip(frames, side), NullSink(), settings, mark, devices=devices)
        per_step = (marks["decode"] - marks["denoise"]) / steps
        peaks = " ".join(f"{b / 2**30:.1f}" for b in engine.last_run.peak_memory_bytes)
        print(f"{count:>8} {per_step:>8.2f} {peaks:>30}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny reference configs (checks the code path)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--tile-pixels", type=int, default=1024)
    parser.add_argument("--compile", action="store_true", help="also time with torch.compile'd blocks")
    parser.add_argument("--gpus", type=int, nargs="*", default=[], help="worker counts for whole restores")
    parser.add_argument("--checkpoints", type=Path, help="checkpoint folder for --gpus (default: tiny with --tiny)")
    args = parser.parse_args()
    from vividvr_engine.pipeline import VividVREngine
    from vividvr_engine.settings import OFFLOAD_MODES

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if not args.tiny and device != "cuda":
        raise SystemExit("the real-size benchmark needs a CUDA GPU; use --tiny to check the code path on CPU")
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    tile = 8 if args.tiny else args.tile_pixels // 8
    frames = 17 if args.tiny else args.frames
    print(f"device {device}, dtype {dtype}, tile {tile * 8}x{tile * 8} px, {frames} frames, CFG batch 2")
    print(f"{'offload':>8} {'compile':>8} {'s/step':>8} {'peak GiB':>9} {'attention':>17}")
    models = build(args.tiny, device, dtype)
    for mode in OFFLOAD_MODES:
        if mode == "model":  # what the engine leaves on the CPU between phases
            models.text_encoder.to("cpu")
            models.vae.to("cpu")
            if device == "cuda":
                torch.cuda.empty_cache()
        for compiled in (False, True) if args.compile else (False,):
            engine = VividVREngine(models, None, device, dtype, offload=mode, compile_blocks=compiled)
            seconds, peak = time_steps(engine, tile, frames, args.steps)
            kernel = attention_kernel(engine, tile, frames)
            print(f"{mode:>8} {'yes' if compiled else 'no':>8} {seconds:>8.2f} {peak:>9.1f} {kernel:>17}", flush=True)
    if args.gpus:
        checkpoints = args.checkpoints or (TINY if args.tiny else None)
        if checkpoints is None:
            raise SystemExit("--gpus loads the models in every worker: give --checkpoints DIR (or --tiny)")
        side = 96 if args.tiny else 1024  # tiny: 12x12 latents, 4 tiles of 8
        scaling(args.gpus, checkpoints, args.tiny, side, frames, 8 if args.tiny else 64, 1 if args.tiny else args.steps)

if __name__ == "__main__":
    main()
