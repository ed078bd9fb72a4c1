"""Restoration-guided sampling on top of upstream's CogVideoX DPM solver.

Vivid-VR pulls the predicted clean latents toward the control latents before each solver update:
`x0 += (t / T) ** r * (control - x0)`. Upstream's `CogVideoXDPMScheduler.step` derives x0 from a
v-prediction, so the same update is expressed by handing it the v that yields the guided x0;
the solver itself stays upstream's.
"""

from __future__ import annotations

import torch
from diffusers import CogVideoXDPMScheduler


def guided_model_output(
    scheduler: CogVideoXDPMScheduler,
    model_output: torch.Tensor,
    sample: torch.Tensor,
    timestep: int,
    control_latents: torch.Tensor,
    restoration_guidance_scale: float,
) -> torch.Tensor:
    """The v-prediction whose implied x0 is the restoration-guided x0 (unchanged when the scale <= 0)."""
    if restoration_guidance_scale <= 0:
        return model_output
    if scheduler.config.prediction_type != "v_prediction":
        raise ValueError("restoration guidance expects a v-prediction scheduler (CogVideoX's)")
    alpha = scheduler.alphas_cumprod[int(timestep)]
    sqrt_alpha, sqrt_beta = alpha**0.5, (1 - alpha) ** 0.5
    x0 = sqrt_alpha * sample - sqrt_beta * model_output
    strength = (float(timestep) / scheduler.config.num_train_timesteps) ** restoration_guidance_scale
    guided_x0 = x0 + strength * (control_latents - x0)
    return (sqrt_alpha * sample - guided_x0) / sqrt_beta


def solver_step(
    scheduler: CogVideoXDPMScheduler,
    model_output: torch.Tensor,
    sample: torch.Tensor,
    previous_x0: torch.Tensor | None,
    step_index: int,
    generator: torch.Generator,
    control_latents: torch.Tensor,
    restoration_guidance_scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One stochastic second-order step at `scheduler.timesteps[step_index]`; returns (sample, x0)."""
    timesteps = scheduler.timesteps
    timestep = timesteps[step_index]
    output = guided_model_output(
        scheduler, model_output, sample, int(timestep), control_latents, restoration_guidance_scale
    )
    prev_sample, x0 = scheduler.step(
        output,
        previous_x0 if step_index > 0 else None,
        timestep,
        timesteps[step_index - 1] if step_index > 0 else None,
        sample,
        generator=generator,
        return_dict=False,
    )
    return prev_sample, x0
