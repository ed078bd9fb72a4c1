"""Write vividvr_engine/published_manifest.json: the tensors each published weight file must hold.

The published configs' architecture (42 CogVideoX blocks of width 3072 = 48 heads x 64, time
embedding 512, a 6-block controlnet, the T5-XXL encoder of width 4096, the CogVideoX VAE) is applied
to the reference tree's configs (same layout and every other setting), each network is built on the
meta device, and its state dict's names and shapes are recorded. Byte counts are derived from them
(the published files store bfloat16 for CogVideoX; Vivid-VR's dtype is not published, so it is not
recorded). Run: .venv/bin/python scripts/build_checkpoint_manifest.py ../shared/reference/checkpoints
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

from vividvr_engine.published import MANIFEST
from vividvr_engine.published_shapes import expected_tensors

CONFIGS = {
    "transformer": "CogVideoX1.5-5B/transformer/config.json",
    "vae": "CogVideoX1.5-5B/vae/config.json",
    "text_encoder": "CogVideoX1.5-5B/text_encoder/config.json",
    "controlnet": "Vivid-VR/controlnet/config.json",
}
WIDTH = {"num_attention_heads": 48, "attention_head_dim": 64, "time_embed_dim": 512, "text_embed_dim": 4096}
PUBLISHED = {
    "transformer": {**WIDTH, "num_layers": 42},
    "controlnet": {**WIDTH, "num_layers": 6},
    "vae": {"block_out_channels": [128, 256, 256, 512], "layers_per_block": 3, "norm_num_groups": 32},
    # google/t5-v1_1-xxl's encoder, which CogVideoX uses
    "text_encoder": {"d_model": 4096, "d_ff": 10240, "d_kv": 64, "num_heads": 64, "num_layers": 24,
                     "num_decoder_layers": 24, "relative_attention_num_buckets": 32, "vocab_size": 32128},
}
BYTES = {"BF16": 2, "F16": 2, "F32": 4}


def main(reference: Path) -> None:
    configs = {k: {**json.loads((reference / p).read_text()), **PUBLISHED[k]} for k, p in CONFIGS.items()}
    weights = {}
    for name, tensors in expected_tensors(configs, torch.bfloat16).items():
        entry = {"source": "derived from the published architecture on the meta device", "tensors": tensors}
        dtypes = {t["dtype"] for t in tensors.values()}
        if None not in dtypes:
            entry["tensor_bytes"] = sum(math.prod(t["shape"]) * BYTES[t["dtype"]] for t in tensors.values())
        weights[name] = entry
    MANIFEST.write_text(json.dumps({"weights": weights}, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    total = sum(len(w["tensors"]) for w in weights.values())
    print(f"wrote {MANIFEST}: {len(weights)} weight sets, {total} tensors")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
