"""Vivid-VR's control-side building blocks: the feature projector, the connector, the shared embedding."""

from __future__ import annotations

import torch
from diffusers.models.activations import get_activation
from diffusers.models.embeddings import CogVideoXPatchEmbed
from diffusers.models.resnet import AlphaBlender, ResnetBlock2D, SpatioTemporalResBlock, TemporalResnetBlock
from torch import nn

PROJECTOR_WIDTH = 320
CONNECTOR_HEADS = 48
CONNECTOR_HIDDEN = 512


class GroupedTemporalResnetBlock(TemporalResnetBlock):
    """Upstream's temporal res block (same layers, same forward) with a chosen GroupNorm group count.

    Upstream hard-codes 32 groups, which a 16-channel block cannot have.
    """

    def __init__(self, channels: int, temb_channels: int, groups: int, eps: float = 1e-6) -> None:
        nn.Module.__init__(self)
        kernel, padding = (3, 1, 1), (1, 0, 0)
        self.in_channels = self.out_channels = channels
        self.norm1 = nn.GroupNorm(groups, channels, eps=eps, affine=True)
        self.conv1 = nn.Conv3d(channels, channels, kernel_size=kernel, padding=padding)
        self.time_emb_proj = nn.Linear(temb_channels, channels)
        self.norm2 = nn.GroupNorm(groups, channels, eps=eps, affine=True)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv3d(channels, channels, kernel_size=kernel, padding=padding)
        self.nonlinearity = get_activation("silu")
        self.use_in_shortcut = False
        self.conv_shortcut = None


class GroupedSpatioTemporalResBlock(SpatioTemporalResBlock):
    """Upstream's spatio-temporal block with one GroupNorm group count in both res blocks."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, groups: int) -> None:
        nn.Module.__init__(self)
        self.spatial_res_block = ResnetBlock2D(
            in_channels=in_channels, out_channels=out_channels, temb_channels=temb_channels, eps=1e-6, groups=groups
        )
        self.temporal_res_block = GroupedTemporalResnetBlock(out_channels, temb_channels, groups)
        self.time_mixer = AlphaBlender(alpha=0.5, merge_strategy="learned")


class ControlFeatureProjector(nn.ModuleList):
    """Three spatio-temporal res blocks (C -> 320 -> 320 -> C) applied to the control latents."""

    def __init__(self, channels: int, temb_channels: int) -> None:
        super().__init__(
            [
                GroupedSpatioTemporalResBlock(channels, PROJECTOR_WIDTH, temb_channels, groups=16),
                GroupedSpatioTemporalResBlock(PROJECTOR_WIDTH, PROJECTOR_WIDTH, temb_channels, groups=32),
                GroupedSpatioTemporalResBlock(PROJECTOR_WIDTH, channels, temb_channels, groups=16),
            ]
        )

    def forward(self, control: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """control: [B, F, C, H, W]; temb: [1, D], repeated once per folded frame."""
        batch, frames = control.shape[:2]
        hidden = control.flatten(0, 1)
        frame_temb = temb.repeat(batch * frames, 1)
        image_only_indicator = torch.ones(frames, device=control.device)
        for block in self:
            hidden = block(hidden, frame_temb, image_only_indicator)
        return hidden.unflatten(0, (batch, frames))


def control_patch_embedding(config) -> CogVideoXPatchEmbed:
    """A CogVideoX patch embedding without positional embeddings, shaped like the model's own."""
    return CogVideoXPatchEmbed(
        patch_size=config.patch_size,
        patch_size_t=config.patch_size_t,
        in_channels=config.in_channels,
        embed_dim=config.num_attention_heads * config.attention_head_dim,
        text_embed_dim=config.text_embed_dim,
        bias=config.patch_bias,
        max_text_seq_length=config.max_text_seq_length,
        use_positional_embeddings=False,
        use_learned_positional_embeddings=False,
    )


def embed_with_control(
    patch_embed: nn.Module,
    projector: ControlFeatureProjector,
    control_embed: nn.Module,
    text: torch.Tensor,
    latents: torch.Tensor,
    control: torch.Tensor,
    temb: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch-embed the latents, add the projected control embedding; return (text, video) tokens.

    `control` may hold one row per group of consecutive `latents` rows (the classifier-free-guidance
    copies of a tile share their control latents): the projector, the costliest part of the control
    path, then runs once per group, not once per copy.
    """
    projected = projector(control, temb)
    copies, remainder = divmod(latents.shape[0], projected.shape[0])
    if remainder:
        raise ValueError(f"{projected.shape[0]} control rows cannot serve {latents.shape[0]} latent rows")
    if copies > 1:
        projected = projected.repeat_interleave(copies, dim=0)
    tokens = patch_embed(text, latents) + control_embed(text, projected)
    text_length = text.shape[1]
    return tokens[:, :text_length], tokens[:, text_length:]


def timestep_embedding(time_proj: nn.Module, time_embedding: nn.Module, timestep: torch.Tensor, dtype) -> torch.Tensor:
    return time_embedding(time_proj(timestep).to(dtype=dtype))


class Connector(nn.Module):
    """Dual-branch connector: attention from the transformer's tokens to a controlnet block's tokens."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.heads = CONNECTOR_HEADS
        head_dim = hidden_size // self.heads
        self.to_q = _mlp(hidden_size)
        self.to_k = _mlp(hidden_size)
        self.norm_q = nn.LayerNorm(head_dim, eps=1e-6)
        self.norm_k = nn.LayerNorm(head_dim, eps=1e-6)
        self.out_layer = _mlp(hidden_size)
        self.c_mlp = _mlp(hidden_size)

    def forward(self, control: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        query = self.norm_q(self._heads(self.to_q(hidden)))
        key = self.norm_k(self._heads(self.to_k(control)))
        value = self._heads(control)
        attended = nn.functional.scaled_dot_product_attention(query, key, value)
        attended = attended.transpose(1, 2).flatten(2)
        return hidden + self.out_layer(attended) + self.c_mlp(control)

    def _heads(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.unflatten(-1, (self.heads, -1)).transpose(1, 2)


def _mlp(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, CONNECTOR_HIDDEN), nn.SiLU(), nn.Linear(CONNECTOR_HIDDEN, width))
