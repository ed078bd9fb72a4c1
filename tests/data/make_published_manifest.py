"""Regenerate published_vividvr.json.gz: every tensor (name, shape) of the published Vivid-VR checkpoint
folder, from the real architectures built on the meta device (no weights, nothing downloaded).

The widths and depths are those ../shared/reference/README.md gives for the release: 42 transformer
blocks of width 3072 (48 heads x 64), a 6-block controlnet, T5-XXL, the CogVideoX VAE. The daemon
tests write header-only safetensors files from it, so the memory estimate sees the published sizes.

    .venv/bin/python tests/data/make_published_manifest.py
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
from transformers import T5Config, T5EncoderModel

from vividvr_engine.models import CogVideoXVividVRControlNetModel, VividVRTransformer

TINY = Path(__file__).parents[2].parent / "shared" / "reference" / "checkpoints"
WIDE = {"num_attention_heads": 48, "attention_head_dim": 64, "time_embed_dim": 512, "text_embed_dim": 4096}
VAE = {"block_out_channels": [128, 256, 256, 512], "layers_per_block": 3, "norm_num_groups": 32}
T5_XXL = T5Config(d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24, vocab_size=32128,
                  feed_forward_proj="gated-gelu", relative_attention_num_buckets=32)


def config(part: str, **changes: object) -> dict:
    values = json.loads((TINY / part / "config.json").read_text())
    return {**{k: v for k, v in values.items() if not k.startswith("_")}, **changes}


def tensors(module: torch.nn.Module) -> list:
    # T5 ties embed_tokens to shared; the published file stores it once
    return [[k, list(v.shape)] for k, v in module.state_dict().items() if k != "encoder.embed_tokens.weight"]


def main() -> None:
    configs = {
        "CogVideoX1.5-5B/transformer": config("CogVideoX1.5-5B/transformer", num_layers=42, **WIDE),
        "Vivid-VR/controlnet": config("Vivid-VR/controlnet", num_layers=6, **WIDE),
        "CogVideoX1.5-5B/vae": config("CogVideoX1.5-5B/vae", sample_height=480, sample_width=720, **VAE),
    }
    with torch.device("meta"):
        base = CogVideoXTransformer3DModel(**configs["CogVideoX1.5-5B/transformer"])
        modules = {
            "CogVideoX1.5-5B/transformer": base,
            "Vivid-VR/controlnet": CogVideoXVividVRControlNetModel(**configs["Vivid-VR/controlnet"]),
            "CogVideoX1.5-5B/vae": AutoencoderKLCogVideoX(**configs["CogVideoX1.5-5B/vae"]),
            "CogVideoX1.5-5B/text_encoder": T5EncoderModel(T5_XXL),
        }
        vividvr = VividVRTransformer(base)
    shards = {"CogVideoX1.5-5B/transformer": 3, "CogVideoX1.5-5B/text_encoder": 2}
    manifest = {
        "parts": {
            part: {"config": configs.get(part), "shards": shards.get(part, 1), "tensors": tensors(module)}
            for part, module in modules.items()
        },
        "pt_parameters": {
            name: sum(p.numel() for p in getattr(vividvr, name).parameters())
            for name in ("connectors", "control_feat_proj", "control_patch_embed")
        },
    }
    with gzip.open(Path(__file__).with_name("published_vividvr.json.gz"), "wt") as file:
        json.dump(manifest, file, separators=(",", ":"))


if __name__ == "__main__":
    main()
