"""The Vivid-VR transformer: upstream CogVideoX 1.5 plus a control projector and one connector per block.

The CogVideoX weights load from `CogVideoX1.5-5B/transformer` with upstream diffusers; the
Vivid-VR parts load from `connectors.pt`, `control_feat_proj.pt` and `control_patch_embed.pt`.
"""

from __future__ import annotations

import math

import torch
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXTransformer3DModel
from torch import nn

from vividvr_engine.models.control_blocks import (
    Connector,
    ControlFeatureProjector,
    control_patch_embedding,
    embed_with_control,
    timestep_embedding,
)


class VividVRTransformer(nn.Module):
    def __init__(self, base: CogVideoXTransformer3DModel) -> None:
        super().__init__()
        config = base.config
        if config.ofs_embed_dim or not config.use_rotary_positional_embeddings or config.patch_size_t is None:
            raise ValueError("Vivid-VR needs the CogVideoX 1.5 T2V transformer (RoPE, patch_size_t, no ofs)")
        self.base = base
        inner_dim = config.num_attention_heads * config.attention_head_dim
        self.connectors = nn.ModuleList([Connector(inner_dim) for _ in range(config.num_layers)])
        self.control_feat_proj = ControlFeatureProjector(config.in_channels, config.time_embed_dim)
        self.control_patch_embed = control_patch_embedding(config)

    @property
    def config(self):
        return self.base.config

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor],
        control_hidden_states: list[torch.Tensor],
        control_latents: torch.Tensor,
    ) -> torch.Tensor:
        """hidden_states: the latents [B, F, C, H, W]; control_latents: [B or B/k, F, C, H, W].

        The reference concatenates the two on channels and splits them again at once; taken apart,
        the classifier-free-guidance copies of a tile can share one control row (`embed_with_control`).
        """
        base = self.base
        batch, frames, _channels, height, width = hidden_states.shape
        temb = timestep_embedding(base.time_proj, base.time_embedding, timestep, hidden_states.dtype)
        text, video = embed_with_control(
            base.patch_embed,
            self.control_feat_proj,
            self.control_patch_embed,
            encoder_hidden_states,
            hidden_states,
            control_latents,
            temb,
        )
        video = base.embedding_dropout(video)
        interval = math.ceil(len(base.transformer_blocks) / len(control_hidden_states))
        for index, block in enumerate(base.transformer_blocks):
            video, text = block(
                hidden_states=video, encoder_hidden_states=text, temb=temb, image_rotary_emb=image_rotary_emb
            )
            video = self.connectors[index](control_hidden_states[index // interval], video).to(video.dtype)
        video = base.norm_out(base.norm_final(video), temb=temb)
        video = base.proj_out(video)
        return _unpatchify(video, batch, frames, height, width, base.config.patch_size, base.config.patch_size_t)


def _unpatchify(tokens: torch.Tensor, batch: int, frames: int, height: int, width: int, p: int, p_t: int):
    grid = tokens.reshape(batch, (frames + p_t - 1) // p_t, height // p, width // p, -1, p_t, p, p)
    return grid.permute(0, 1, 5, 4, 2, 6, 3, 7).flatten(6, 7).flatten(4, 5).flatten(1, 2)
