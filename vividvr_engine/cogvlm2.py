"""CogVLM2-Video (zai-org/cogvlm2-llama3-caption) in plain torch, so captioning runs on the stack we ship.

The authors publish the model code beside the weights for `trust_remote_code`; that code needs
transformers 4.42, torchvision and einops, and breaks on transformers 5 (zai-org/CogVLM2#218).
This module implements the same network from its published description and weight names: an
EVA2-CLIP vision tower per sampled frame, a 2x2 conv and GLU adapter giving 64 tokens plus
begin/end-of-image per frame, and a Llama-3 decoder (grouped-query attention, RoPE base 500000)
with the authors' position rule (a frame's patch tokens share one position). Only the published
safetensors are read; nothing from the checkpoint folder is ever executed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from vividvr_engine.checkpoints import captioner_problems
from vividvr_engine.errors import CheckpointError
from vividvr_engine.published import CAPTIONER

LANGUAGE, VISION = 0, 1
ROPE_BASE = 500_000.0
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
ACTIVATIONS = {"gelu": F.gelu, "silu": F.silu}


@dataclass(frozen=True)
class VisionConfig:
    hidden_size: int
    intermediate_size: int
    num_heads: int
    num_hidden_layers: int
    image_size: int
    patch_size: int
    num_positions: int
    layer_norm_eps: float
    in_channels: int = 3
    hidden_act: str = "gelu"


@dataclass(frozen=True)
class CogVLM2Config:
    """The fields of the published config.json this network reads."""

    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    num_multi_query_heads: int
    num_hidden_layers: int
    rms_norm_eps: float
    vocab_size: int
    pad_token_id: int
    eos_token_ids: tuple[int, ...]
    vision: VisionConfig
    hidden_act: str = "silu"

    @classmethod
    def from_dict(cls, values: dict) -> CogVLM2Config:
        eos = values["eos_token_id"]
        vision = {k: v for k, v in values["vision_config"].items() if k in VisionConfig.__dataclass_fields__}
        names = set(cls.__dataclass_fields__) - {"eos_token_ids", "vision"}
        return cls(
            **{k: values[k] for k in names if k in values},
            eos_token_ids=tuple(eos) if isinstance(eos, list) else (eos,),
            vision=VisionConfig(**vision),
        )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def tokens_per_frame(self) -> int:
        """Patch grid halved by the 2x2 conv, plus begin- and end-of-image: 66 for the published model."""
        return (self.vision.image_size // self.vision.patch_size // 2) ** 2 + 2


# ---------------------------------------------------------------------------------- vision tower


class PatchEmbedding(nn.Module):
    def __init__(self, c: VisionConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(c.in_channels, c.hidden_size, kernel_size=c.patch_size, stride=c.patch_size)
        self.cls_embedding = nn.Parameter(torch.zeros(1, c.hidden_size))
        self.position_embedding = nn.Embedding(c.num_positions, c.hidden_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.proj(images).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_embedding.expand(x.shape[0], 1, -1), x), dim=1)
        return x + self.position_embedding.weight


class VisionAttention(nn.Module):
    def __init__(self, c: VisionConfig) -> None:
        super().__init__()
        self.heads = c.num_heads
        self.query_key_value = nn.Linear(c.hidden_size, 3 * c.hidden_size)
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.query_key_value(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        return self.dense(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, -1))


class VisionMLP(nn.Module):
    def __init__(self, c: VisionConfig) -> None:
        super().__init__()
        self.act = ACTIVATIONS[c.hidden_act]
        self.fc1 = nn.Linear(c.hidden_size, c.intermediate_size)
        self.fc2 = nn.Linear(c.intermediate_size, c.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class VisionLayer(nn.Module):
    """EVA2-CLIP's block: the layer norms act on each branch's output, not its input."""

    def __init__(self, c: VisionConfig) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.attention = VisionAttention(c)
        self.mlp = VisionMLP(c)
        self.post_attention_layernorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.input_layernorm(self.attention(x))
        return x + self.post_attention_layernorm(self.mlp(x))


class VisionTransformer(nn.Module):
    def __init__(self, c: VisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(VisionLayer(c) for _ in range(c.num_hidden_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class GLU(nn.Module):
    """Adapter from vision features to the decoder's width."""

    def __init__(self, c: CogVLM2Config, in_features: int) -> None:
        super().__init__()
        self.linear_proj = nn.Linear(in_features, c.hidden_size, bias=False)
        self.norm1 = nn.LayerNorm(c.hidden_size)
        self.dense_h_to_4h = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.dense_4h_to_h = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(self.linear_proj(x)))
        return self.dense_4h_to_h(F.silu(self.gate_proj(x)) * self.dense_h_to_4h(x))


class VisionTower(nn.Module):
    def __init__(self, c: CogVLM2Config) -> None:
        super().__init__()
        width = c.vision.hidden_size
        self.patch_embedding = PatchEmbedding(c.vision)
        self.transformer = VisionTransformer(c.vision)
        self.conv = nn.Conv2d(width, width, kernel_size=2, stride=2)
        self.linear_proj = GLU(c, in_features=width)
        self.boi = nn.Parameter(torch.zeros(1, 1, c.hidden_size))
        self.eoi = nn.Parameter(torch.zeros(1, 1, c.hidden_size))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [T, 3, S, S] normalised -> [T, tokens_per_frame, hidden]."""
        x = self.transformer(self.patch_embedding(frames))[:, 1:]  # drop the class token
        t, n, d = x.shape
        grid = math.isqrt(n)
        x = self.conv(x.view(t, grid, grid, d).permute(0, 3, 1, 2)).flatten(2).transpose(1, 2)
        x = self.linear_proj(x)
        return torch.cat((self.boi.expand(t, 1, -1), x, self.eoi.expand(t, 1, -1)), dim=1)


# ---------------------------------------------------------------------------------- decoder

KVCache = list[tuple[torch.Tensor, torch.Tensor]]


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return (self.weight * h).to(x.dtype)


def rotary(positions: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [B, 1, L, dim] in float32 for integer positions [B, L] (halves layout, not interleaved)."""
    inv_freq = 1.0 / ROPE_BASE ** (torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device) / dim)
    freqs = positions[..., None].float() * inv_freq
    angles = torch.cat((freqs, freqs), dim=-1)[:, None]
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    xf = x.float()
    half = x.shape[-1] // 2
    rotated = torch.cat((-xf[..., half:], xf[..., :half]), dim=-1)
    return (xf * cos + rotated * sin).to(x.dtype)


class SelfAttention(nn.Module):
    """Grouped-query attention; the caption model ships only the language expert's weights."""

    def __init__(self, c: CogVLM2Config) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = c.num_attention_heads, c.num_multi_query_heads, c.head_dim
        kv = self.kv_heads * self.head_dim
        self.split = (c.hidden_size, kv, kv)
        self.language_expert_query_key_value = nn.Linear(c.hidden_size, sum(self.split), bias=False)
        self.language_expert_dense = nn.Linear(c.hidden_size, c.hidden_size, bias=False)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, n, _ = x.shape
        q, k, v = (
            t.view(b, n, -1, self.head_dim).transpose(1, 2)
            for t in self.language_expert_query_key_value(x).split(self.split, dim=-1)
        )
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if past is not None:
            if n != 1:
                raise ValueError("with a cache, the decoder takes one new token at a time")
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        repeat = self.heads // self.kv_heads
        out = F.scaled_dot_product_attention(
            q, k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1), is_causal=past is None and n > 1
        )
        return self.language_expert_dense(out.transpose(1, 2).reshape(b, n, -1)), (k, v)


class MLP(nn.Module):
    def __init__(self, c: CogVLM2Config) -> None:
        super().__init__()
        self.act = ACTIVATIONS[c.hidden_act]
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c: CogVLM2Config) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = SelfAttention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = nn.ModuleDict({"language_mlp": MLP(c)})

    def forward(self, x, cos, sin, past):  # type: ignore[no-untyped-def]
        attended, present = self.self_attn(self.input_layernorm(x), cos, sin, past)
        x = x + attended
        return x + self.mlp["language_mlp"](self.post_attention_layernorm(x)), present


class Body(nn.Module):
    def __init__(self, c: CogVLM2Config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c.num_hidden_layers))
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.vision = VisionTower(c)


class CogVLM2Video(nn.Module):
    """Parameter names match the published safetensors one for one."""

    def __init__(self, config: CogVLM2Config) -> None:
        super().__init__()
        self.config = config
        self.model = Body(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def forward(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor,
        token_types: torch.Tensor | None = None,
        pixels: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, KVCache]:
        """Logits of the last position (float32) and the new cache; `pixels` fill the VISION slots."""
        x = self.model.embed_tokens(input_ids)
        if pixels is not None:
            assert token_types is not None
            features = self.model.vision(pixels.to(x.dtype)).flatten(0, 1)
            slots = token_types == VISION
            if int(slots.sum()) != features.shape[0]:
                raise ValueError(f"{int(slots.sum())} vision slots for {features.shape[0]} vision tokens")
            x = x.clone()
            x[slots] = features
        cos, sin = rotary(positions, self.config.head_dim)
        present: KVCache = []
        for i, layer in enumerate(self.model.layers):
            x, kv = layer(x, cos, sin, cache[i] if cache else None)
            present.append(kv)
        return self.lm_head(self.model.norm(x[:, -1])).float(), present


# ---------------------------------------------------------------------------------- inputs


def frames_to_pixels(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Sampled frames [T, 3, H, W] in [0, 1] -> [T, 3, size, size], as the authors' video transform does:
    CLIP normalisation, bilinear scale of the short side to `size` (long side floored), centre crop."""
    x = (frames.float() * 255).transpose(0, 1) / 255.0  # [C, T, H, W], the authors' 0-255 round trip
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1, 1)
    x = (x - mean) / std
    _, _, h, w = x.shape
    new_h, new_w = (math.floor(h / w * size), size) if w < h else (size, math.floor(w / h * size))
    x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)
    top, left = round((new_h - size) / 2.0), round((new_w - size) / 2.0)
    return x[..., top : top + size, left : left + size].transpose(0, 1).contiguous()


def conversation_ids(
    tokenizer, query: str, frames: int, config: CogVLM2Config
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids, token types) of the 'chat' template: BOS, then per frame its vision slots and its
    index as text, then "Question: ... Answer:"."""
    ids, types = [tokenizer.bos_token_id], [LANGUAGE]
    for index in range(frames):
        stamp = tokenizer.encode(str(index), add_special_tokens=False)
        ids += [config.pad_token_id] * config.tokens_per_frame + stamp
        types += [VISION] * config.tokens_per_frame + [LANGUAGE] * len(stamp)
    text = tokenizer.encode(f"Question: {query} Answer:", add_special_tokens=False)
    return torch.tensor(ids + text), torch.tensor(types + [LANGUAGE] * len(text))


def position_ids(token_types: torch.Tensor) -> torch.Tensor:
    """Positions [L] for token types [L]: each image's begin/end tokens count as text, and its patch
    tokens share the position after its begin token."""
    t = token_types.clone()
    edge = torch.tensor([LANGUAGE])
    before, after = torch.cat((edge, t[:-1])), torch.cat((t[1:], edge))
    t[(t == VISION) & ((before == LANGUAGE) | (after == LANGUAGE))] = LANGUAGE
    steps = torch.zeros_like(t)
    steps[1:] = (t[1:] == LANGUAGE) | ((t[1:] == VISION) & (t[:-1] == LANGUAGE))
    return steps.cumsum(0)


@torch.no_grad()
def generate(
    model: CogVLM2Video,
    ids: torch.Tensor,
    types: torch.Tensor,
    pixels: torch.Tensor,
    max_new_tokens: int,
) -> list[int]:
    """Greedy decoding until an end-of-sequence token; returns the new tokens, EOS excluded."""
    device = model.lm_head.weight.device
    positions = position_ids(types)
    logits, cache = model(ids[None].to(device), positions[None].to(device), types[None].to(device), pixels.to(device))
    position, tokens = int(positions[-1]), []
    while len(tokens) < max_new_tokens:
        token = int(logits.argmax(-1))
        if token in model.config.eos_token_ids:
            break
        tokens.append(token)
        position += 1
        step = torch.tensor([[token]], device=device)
        logits, cache = model(step, torch.tensor([[position]], device=device), cache=cache)
    return tokens


# ---------------------------------------------------------------------------------- loading


def _read_config(folder: Path) -> CogVLM2Config:
    values = json.loads((folder / "config.json").read_text())
    generation = folder / "generation_config.json"  # may list more end tokens than config.json
    if generation.is_file():
        eos = json.loads(generation.read_text()).get("eos_token_id")
        if eos is not None:
            values["eos_token_id"] = eos
    try:
        return CogVLM2Config.from_dict(values)
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder / 'config.json'}: not a CogVLM2-Video config ({exc})") from None


def _weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return [folder / name for name in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    return [folder / "model.safetensors"]


def load_model(folder: Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.bfloat16) -> CogVLM2Video:
    """Build the network without allocating, then fill it shard by shard straight onto `device`."""
    problems = captioner_problems(folder)
    if problems:
        raise CheckpointError("the captioner cannot load:\n  " + "\n  ".join(problems))
    config = _read_config(folder)
    with torch.device("meta"):
        model = CogVLM2Video(config)
    expected = {name: p.shape for name, p in model.named_parameters()}
    loaded: set[str] = set()
    for path in _weight_files(folder):
        with safe_open(path, framework="pt", device="cpu") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                if key.endswith("rotary_emb.inv_freq"):
                    continue  # a cached constant the authors' code saved; rotary() recomputes it
                tensor = f.get_tensor(key)
                if expected.get(key) != tensor.shape:
                    raise CheckpointError(_mismatch(path, key, expected.get(key), tensor.shape))
                owner, _, name = key.rpartition(".")
                setattr(model.get_submodule(owner), name, nn.Parameter(tensor.to(device, dtype), requires_grad=False))
                loaded.add(key)
    missing = sorted(set(expected) - loaded)
    if missing:
        raise CheckpointError(
            f"{folder}: the weights lack {len(missing)} tensors of CogVLM2-Video (e.g. {', '.join(missing[:3])}); "
            f"re-download {CAPTIONER.url}"
        )
    return model.eval()


def _mismatch(path: Path, key: str, expected: Sequence[int] | None, found: Sequence[int]) -> str:
    if expected is None:
        return f"{path}: unexpected tensor {key}; is this {CAPTIONER.url}?"
    return f"{path}: {key} has shape {list(found)}, CogVLM2-Video expects {list(expected)} (config.json mismatch?)"
