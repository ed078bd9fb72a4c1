"""Restoration settings: names and defaults follow the authors' inference script."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from vividvr_engine.errors import SettingsError
from vividvr_engine.planning import Resize, plan_resize, validate_window_frames

COLOR_FIXES = ("adain", "wavelet", "none")
# "model": the text encoder and VAE visit the GPU only for their phase (saves ~10 GiB, costs transfers)
OFFLOAD_MODES = ("none", "model")
MAX_OUTPUT_SIDE = 16384


@dataclass(frozen=True)
class RestoreSettings:
    num_inference_steps: int = 50
    guidance_scale: float = 6.0
    restoration_guidance_scale: float = -1.0  # <= 0 disables restoration-guided sampling
    upscale: float = 0.0  # resize factor; 0 means the short side becomes 1024
    short_side: int | None = None  # target short side in pixels; overrides `upscale`
    tile_size: int = 128  # latent pixels per spatial tile (x8 in image pixels)
    num_temporal_process_frames: int = 121  # frames per temporal window, 8k+1
    seed: int = 42
    caption: str | None = None  # fixed caption: skips the captioning model
    color_fix: str = "adain"
    textfix: bool = False
    offload: str = "none"  # GPU memory mode; never changes the result

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not 1 <= self.num_inference_steps <= 1000:
            raise SettingsError(f"steps must be between 1 and 1000, got {self.num_inference_steps}")
        if not 0 <= self.guidance_scale <= 50:
            raise SettingsError(f"guidance scale must be between 0 and 50, got {self.guidance_scale}")
        if self.restoration_guidance_scale > 20:
            raise SettingsError(
                f"restoration guidance must be <= 20 (or <= 0 to disable), got {self.restoration_guidance_scale}"
            )
        if self.upscale < 0 or self.upscale > 16:
            raise SettingsError(f"upscale must be 0 (short side 1024) or a factor up to 16, got {self.upscale}")
        if self.short_side is not None and not 16 <= self.short_side <= MAX_OUTPUT_SIDE:
            raise SettingsError(f"short side must be between 16 and {MAX_OUTPUT_SIDE} pixels, got {self.short_side}")
        if self.tile_size < 8 or self.tile_size % 2:
            raise SettingsError(f"tile size must be an even number of latent pixels >= 8, got {self.tile_size}")
        try:
            validate_window_frames(self.num_temporal_process_frames)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        if not 0 <= self.seed < 2**63:
            raise SettingsError(f"seed must be a non-negative 64-bit integer, got {self.seed}")
        if self.offload not in OFFLOAD_MODES:
            raise SettingsError(f"offload must be one of {', '.join(OFFLOAD_MODES)}, got {self.offload!r}")
        if self.color_fix not in COLOR_FIXES:
            raise SettingsError(f"color fix must be one of {', '.join(COLOR_FIXES)}, got {self.color_fix!r}")

    def resize_for(self, height: int, width: int) -> Resize:
        """How a source of the given size is resized (see `planning.plan_resize`)."""
        return plan_resize(height, width, self.upscale, self.short_side)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the restored frames for a source of the given size."""
        resize = self.resize_for(height, width)
        out = (resize.height, resize.width)
        if min(out) < 1 or max(out) > MAX_OUTPUT_SIDE:
            raise SettingsError(
                f"output would be {out[1]}x{out[0]} pixels; sides must be 1..{MAX_OUTPUT_SIDE}"
                " (lower --upscale or --short-side)"
            )
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> RestoreSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**values)
