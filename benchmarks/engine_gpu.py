"""Denoising speed and GPU memory of the real CogVideoX1.5-5B + Vivid-VR architecture (random weights).

Builds the published architecture from its config (42 blocks, width 3072, 6-block controlnet,
T5-XXL, the CogVideoX VAE) with random weights - nothing is downloaded - in bfloat16, and times
one 1024x1024 tile of a 121-frame window: seconds per denoising step (controlnet + transformer
over the CFG batch) and peak GPU memory, for each offload mode the engine offers.
One run takes a few minutes on an H100:

    .venv/bin/python benchmarks/engine_gpu.py            # real sizes, needs CUDA
    .venv/bin/python benchmarks/engine_gpu.py --tiny     # same code path, tiny configs, CPU is fine
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

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


def time_steps(engine, tile: int, frames: int, steps: int) -> tuple[float, float]:
    """Seconds per step and peak memory (GiB) for `steps` guided evaluations of one latent tile."""
    from vividvr_engine.pipeline import _rotary_embedding

    models, device, dtype = engine.models, engine.device, engine.dtype
    t_frames = latent_frames(padded_window_frames(frames))
    shape = (2, t_frames, 16, tile, tile)
    latents = torch.randn(shape, device=device, dtype=dtype)
    control = torch.randn(shape, device=device, dtype=dtype)
    text = torch.randn(2, 226, models.transformer.config.text_embed_dim, device=device, dtype=dtype)
    rope = _rotary_embedding(shape, models.transformer.config, device)
    timestep = torch.tensor([999], device=device)
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        for _ in range(steps + 1):  # the first is warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            states = models.controlnet(latents, text, control, timestep, rope)
            models.transformer(torch.cat([latents, control], dim=2), text, timestep, rope, states)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return sum(times[1:]) / steps, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny reference configs (checks the code path)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--tile-pixels", type=int, default=1024)
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
    print(f"{'offload':>8} {'s/step':>8} {'peak GiB':>9}")
    models = build(args.tiny, device, dtype)
    for mode in OFFLOAD_MODES:
        if mode == "model":  # what the engine leaves on the CPU between phases
            models.text_encoder.to("cpu")
            models.vae.to("cpu")
            if device == "cuda":
                torch.cuda.empty_cache()
        engine = VividVREngine(models, None, device, dtype, offload=mode)
        seconds, peak = time_steps(engine, tile, frames, args.steps)
        print(f"{mode:>8} {seconds:>8.2f} {peak:>9.1f}", flush=True)

if __name__ == "__main__":
    main()
