"""A tiny random-weight CogVLM2-Video folder in the published layout, from the published config shrunk."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from vividvr_engine.cogvlm2 import CogVLM2Config, CogVLM2Video

# config.json of https://huggingface.co/zai-org/cogvlm2-llama3-caption, as published.
PUBLISHED_CONFIG = {
    "architectures": ["CogVLMVideoForCausalLM"],
    "auto_map": {
        "AutoConfig": "configuration_cogvlm.CogVLMConfig",
        "AutoModelForCausalLM": "modeling_cogvlm.CogVLMVideoForCausalLM",
    },
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "pad_token_id": 128002,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 14336,
    "max_position_embeddings": 2048,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_multi_query_heads": 8,
    "rms_norm_eps": 1e-05,
    "template_version": "base",
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.43.1",
    "use_cache": True,
    "vision_config": {
        "dropout_prob": 0.0,
        "hidden_act": "gelu",
        "hidden_size": 1792,
        "image_size": 224,
        "in_channels": 3,
        "intermediate_size": 15360,
        "layer_norm_eps": 1e-06,
        "num_heads": 16,
        "num_hidden_layers": 63,
        "num_positions": 257,
        "patch_size": 14,
    },
    "vocab_size": 128256,
}

# What the published repository lists: its six shard sizes in bytes, tensor count, and some tensors' shapes.
PUBLISHED_SHARD_BYTES = (4976699712, 4999803504, 4915917160, 4956242104, 4115863248, 1050673280)
PUBLISHED_TENSORS = 74 + 91 + 89 + 438 + 336 + 1
PUBLISHED_SHAPES = {
    "model.embed_tokens.weight": (128256, 4096),
    "model.layers.0.input_layernorm.weight": (4096,),
    "model.layers.0.mlp.language_mlp.down_proj.weight": (4096, 14336),
    "model.layers.0.mlp.language_mlp.gate_proj.weight": (14336, 4096),
    "model.layers.0.mlp.language_mlp.up_proj.weight": (14336, 4096),
    "model.layers.10.post_attention_layernorm.weight": (4096,),
    "model.norm.weight": (4096,),
    "model.vision.boi": (1, 1, 4096),
    "model.vision.conv.bias": (1792,),
    "model.vision.conv.weight": (1792, 1792, 2, 2),
    "model.vision.linear_proj.dense_4h_to_h.weight": (4096, 14336),
    "model.vision.linear_proj.dense_h_to_4h.weight": (14336, 4096),
    "model.vision.linear_proj.gate_proj.weight": (14336, 4096),
    "lm_head.weight": (128256, 4096),
}

BYTES = 256  # the tiny tokenizer: one token per byte, then the three specials below
BOS, EOS, PAD = BYTES, BYTES + 1, BYTES + 2


def tiny_config() -> dict:
    """Published config with every width and depth shrunk; image size, patch size and ids layout kept."""
    config = json.loads(json.dumps(PUBLISHED_CONFIG))
    config.update(
        bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, hidden_size=32, intermediate_size=48,
        num_attention_heads=4, num_multi_query_heads=2, num_hidden_layers=2, vocab_size=BYTES + 3,
    )  # fmt: skip
    config["vision_config"].update(hidden_size=16, intermediate_size=24, num_heads=2, num_hidden_layers=2)
    return config


def save_tokenizer(folder: Path) -> None:
    """A byte-level BPE without merges: encodes any text, decodes back exactly (tokenizer.json)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    byte_chars = sorted(alphabet, key=lambda ch: _byte_of(ch))
    vocab = {ch: i for i, ch in enumerate(byte_chars)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>"])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        pad_token="<|reserved_special_token_0|>",
    )
    fast.save_pretrained(folder)


def _byte_of(char: str) -> int:
    """Inverse of GPT-2's bytes-to-unicode table."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    if ord(char) in printable:
        return ord(char)
    missing = [b for b in range(256) if b not in printable]
    return missing[ord(char) - 256]


def make_tiny_cogvlm2(folder: Path, seed: int = 0, shards: int = 2) -> CogVLM2Video:
    """Write config.json, tokenizer files and sharded safetensors (plus the index) like the published repo."""
    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_config()
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    save_tokenizer(folder)
    torch.manual_seed(seed)
    model = CogVLM2Video(CogVLM2Config.from_dict(config))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)  # wide enough that greedy decoding wanders instead of repeating one token
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    for layer in range(config["num_hidden_layers"]):  # the published files carry this cached constant too
        head_dim = config["hidden_size"] // config["num_attention_heads"]
        state[f"model.layers.{layer}.self_attn.rotary_emb.inv_freq"] = torch.ones(head_dim // 2)
    names = sorted(state)
    weight_map = {}
    for index in range(shards):
        shard = f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
        part = {name: state[name] for name in names[index::shards]}
        save_file(part, folder / shard, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, shard))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return model.eval()
