"""Restoration settings: names and defaults follow the authors' inference script.

Defaults, ranges and choices are declared once in `vividvr_client.settings_spec` (torch-free, so
the CLI and the host plugins are generated from the same declaration); this class adds the rules
that need the engine's arithmetic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from vividvr_client import settings_spec
from vividvr_client.settings_spec import COLOR_FIXES, MAX_OUTPUT_SIDE, OFFLOAD_MODES
from vividvr_engine.errors import SettingsError
from vividvr_engine.planning import Resize, plan_resize, validate_window_frames

__all__ = ["COLOR_FIXES", "MAX_OUTPUT_SIDE", "OFFLOAD_MODES", "RestoreSettings"]
_DEFAULT = settings_spec.defaults()


@dataclass(frozen=True)
class RestoreSettings:
    num_inference_steps: int = _DEFAULT["num_inference_steps"]
    guidance_scale: float = _DEFAULT["guidance_scale"]
    restoration_guidance_scale: float = _DEFAULT["restoration_guidance_scale"]  # <= 0 disables it
    upscale: float = _DEFAULT["upscale"]  # resize factor; 0 means the short side becomes 1024
    short_side: int | None = _DEFAULT["short_side"]  # target short side in pixels; overrides `upscale`
    tile_size: int = _DEFAULT["tile_size"]  # latent pixels per spatial tile (x8 in image pixels)
    num_temporal_process_frames: int = _DEFAULT["num_temporal_process_frames"]  # frames per window, 8k+1
    seed: int = _DEFAULT["seed"]
    caption: str | None = _DEFAULT["caption"]  # fixed caption: skips the captioning model
    color_fix: str = _DEFAULT["color_fix"]
    textfix: bool = _DEFAULT["textfix"]
    offload: str = _DEFAULT["offload"]  # GPU memory mode; never changes the result

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        problems = settings_spec.problems(asdict(self))
        if problems:
            raise SettingsError("; ".join(problems))
        if self.tile_size % 2:
            raise SettingsError(f"tile size must be an even number of latent pixels >= 8, got {self.tile_size}")
        try:
            validate_window_frames(self.num_temporal_process_frames)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None

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
