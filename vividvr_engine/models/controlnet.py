"""The Vivid-VR controlnet: a shallow CogVideoX stack that reads the control latents.

Loads `Vivid-VR/controlnet/` (config + safetensors) unchanged through diffusers'
`from_pretrained`; the attribute names are the published state-dict keys.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import CogVideoXPatchEmbed, TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock
from torch import nn

from vividvr_engine.models.control_blocks import (
    ControlFeatureProjector,
    control_patch_embedding,
    embed_with_control,
    timestep_embedding,
)


class CogVideoXVividVRControlNetModel(ModelMixin, ConfigMixin):
    """Returns the video tokens after every block, for the transformer's connectors."""

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        num_attention_heads: int = 48,
        attention_head_dim: int = 64,
        in_channels: int = 16,
        out_channels: int | None = 16,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        time_embed_dim: int = 512,
        ofs_embed_dim: int | None = None,
        text_embed_dim: int = 4096,
        num_layers: int = 6,
        dropout: float = 0.0,
        attention_bias: bool = True,
        sample_width: int = 300,
        sample_height: int = 300,
        sample_frames: int = 81,
        patch_size: int = 2,
        patch_size_t: int | None = 2,
        temporal_compression_ratio: int = 4,
        max_text_seq_length: int = 226,
        activation_fn: str = "gelu-approximate",
        timestep_activation_fn: str = "silu",
        norm_elementwise_affine: bool = True,
        norm_eps: float = 1e-5,
        spatial_interpolation_scale: float = 1.875,
        temporal_interpolation_scale: float = 1.0,
        use_rotary_positional_embeddings: bool = True,
        use_learned_positional_embeddings: bool = False,
        patch_bias: bool = False,
    ) -> None:
        super().__init__()
        if ofs_embed_dim or not use_rotary_positional_embeddings or patch_size_t is None:
            raise ValueError("the Vivid-VR controlnet is built on CogVideoX 1.5 T2V (RoPE, patch_size_t, no ofs)")
        inner_dim = num_attention_heads * attention_head_dim
        self.time_proj = Timesteps(inner_dim, flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(inner_dim, time_embed_dim, timestep_activation_fn)
        self.patch_embed = CogVideoXPatchEmbed(
            patch_size=patch_size,
            patch_size_t=patch_size_t,
            in_channels=in_channels,
            embed_dim=inner_dim,
            text_embed_dim=text_embed_dim,
            bias=patch_bias,
            max_text_seq_length=max_text_seq_length,
            use_positional_embeddings=False,
            use_learned_positional_embeddings=False,
        )
        self.embedding_dropout = nn.Dropout(dropout)
        self.transformer_blocks = nn.ModuleList(
            [
                CogVideoXBlock(
                    dim=inner_dim,
                    num_attention_heads=num_attention_heads,
                    attention_head_dim=attention_head_dim,
                    time_embed_dim=time_embed_dim,
                    dropout=dropout,
                    activation_fn=activation_fn,
                    attention_bias=attention_bias,
                    norm_elementwise_affine=norm_elementwise_affine,
                    norm_eps=norm_eps,
                )
                for _ in range(num_layers)
            ]
        )
        self.control_feat_proj = ControlFeatureProjector(in_channels, time_embed_dim)
        self.control_patch_embed = control_patch_embedding(self.config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        control_states: torch.Tensor,
        timestep: torch.Tensor,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor],
    ) -> list[torch.Tensor]:
        """Latents [B, F, C, H, W] and control latents [B or B/k, F, C, H, W] -> video tokens after each block.

        With B/k control rows, each serves k consecutive latent rows (see `embed_with_control`)."""
        temb = timestep_embedding(self.time_proj, self.time_embedding, timestep, hidden_states.dtype)
        text, video = embed_with_control(
            self.patch_embed,
            self.control_feat_proj,
            self.control_patch_embed,
            encoder_hidden_states,
            hidden_states,
            control_states,
            temb,
        )
        video = self.embedding_dropout(video)
        states = []
        for block in self.transformer_blocks:
            video, text = block(
                hidden_states=video, encoder_hidden_states=text, temb=temb, image_rotary_emb=image_rotary_emb
            )
            states.append(video)
        return states
