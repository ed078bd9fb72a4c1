"""The tensor names and shapes a published checkpoint must hold, derived from its configs.

The published files are tens of GB and cannot be downloaded everywhere, so the shipped manifest
(`published_manifest.json`) is written from the architecture instead: each network is built from its
config on the meta device (no memory, no weights) and its state dict is read off. The same function
applied to the tiny reference tree reproduces that tree's files exactly (tests/test_models_manifest.py),
which is what makes the derivation trustworthy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

# safetensors' dtype names, as they appear in the files' headers
SAFETENSORS_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}

TensorSpec = dict[str, Any]  # {"shape": [...], "dtype": "BF16" | None}


def _specs(module: nn.Module, dtype: torch.dtype | None, skip: frozenset[str] = frozenset()) -> dict[str, TensorSpec]:
    name = SAFETENSORS_DTYPES.get(dtype) if dtype is not None else None
    return {
        key: {"shape": list(tensor.shape), "dtype": name}
        for key, tensor in module.state_dict().items()
        if key not in skip
    }


def _on_meta(build):  # type: ignore[no-untyped-def]
    from accelerate import init_empty_weights

    with init_empty_weights():
        return build()


def expected_tensors(configs: Mapping[str, Mapping[str, Any]], dtype: torch.dtype | None) -> dict[str, dict]:
    """Tensor specs per weight set, from the configs of `transformer`, `vae`, `text_encoder`, `controlnet`.

    Keys are the weight sets' paths under the checkpoint root (safetensors stems and `.pt` files).
    `dtype` is what the CogVideoX files store (None: unknown); Vivid-VR's dtype is never recorded
    because its publishers do not state it.
    """
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    from vividvr_engine.models import CogVideoXVividVRControlNetModel, VividVRTransformer

    def plain(config: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if not k.startswith("_")}

    base = _on_meta(lambda: CogVideoXTransformer3DModel(**plain(configs["transformer"])))
    vividvr = _on_meta(lambda: VividVRTransformer(base))
    vae = _on_meta(lambda: AutoencoderKLCogVideoX(**plain(configs["vae"])))
    t5_config = T5Config(**plain(configs["text_encoder"]))
    text_encoder = _on_meta(lambda: T5EncoderModel(t5_config))
    controlnet = _on_meta(lambda: CogVideoXVividVRControlNetModel(**plain(configs["controlnet"])))
    # transformers saves a tied embedding once, under `shared.weight`
    tied = frozenset({"encoder.embed_tokens.weight"})
    return {
        "CogVideoX1.5-5B/transformer/diffusion_pytorch_model": _specs(base, dtype),
        "CogVideoX1.5-5B/vae/diffusion_pytorch_model": _specs(vae, dtype),
        "CogVideoX1.5-5B/text_encoder/model": _specs(text_encoder, dtype, tied),
        "Vivid-VR/controlnet/diffusion_pytorch_model": _specs(controlnet, None),
        "Vivid-VR/connectors.pt": _specs(vividvr.connectors, None),
        "Vivid-VR/control_feat_proj.pt": _specs(vividvr.control_feat_proj, None),
        "Vivid-VR/control_patch_embed.pt": _specs(vividvr.control_patch_embed, None),
    }
