"""The engine settings, declared once: name, type, default, range, choices, help and CLI flag.

`vividvr_engine.settings.RestoreSettings` takes its defaults and range checks from here; the
`vividvr restore` flags, the Nuke gizmo's Engine knobs and the Resolve dialog's engine fields are
generated from it; the proto's `EngineSettings` carries the same names (a test checks both ways).
Torch-free, so the hosts' own Pythons import it. Rules that need the engine's arithmetic (tile
sizes even, windows of 8k+1 frames) stay in RestoreSettings; the help says them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COLOR_FIXES = ("adain", "wavelet", "none")
# "model": the text encoder and VAE visit the GPU only for their phase (saves ~10 GiB, costs transfers)
OFFLOAD_MODES = ("none", "model")
MAX_OUTPUT_SIDE = 16384


@dataclass(frozen=True)
class Setting:
    """One engine setting. An optional one (`unset` says what None means) is 0 or "" in host widgets."""

    name: str  # RestoreSettings field and EngineSettings proto field
    kind: type  # int, float, str or bool
    default: Any
    words: str  # how messages and host labels name it
    help: str
    flag: str  # the `vividvr restore` flag
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    unset: str = ""  # what leaving an optional setting unset means; "": it must be set

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed, or None."""
        if value is None:
            return None if self.unset else f"{self.words} must be set"
        if self.kind in (int, float) and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"{self.words} must be a number, got {value!r}"
        if self.kind in (str, bool) and not isinstance(value, self.kind):
            return f"{self.words} must be a {self.kind.__name__}, got {value!r}"
        if self.kind is int and value != int(value):
            return f"{self.words} must be a whole number, got {value!r}"
        if self.choices and value not in self.choices:
            return f"{self.words} must be one of {', '.join(self.choices)}, got {value!r}"
        low, high = self.minimum, self.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{self.words} must be {self.bounds()}, got {value}"
        return None

    def bounds(self) -> str:
        """The allowed range in words ("between 1 and 1000", "<= 20", ">= 8"); "" when unbounded."""
        low, high = self.minimum, self.maximum
        if low is None:
            return "" if high is None else f"<= {number_text(high)}"
        return f">= {number_text(low)}" if high is None else f"between {number_text(low)} and {number_text(high)}"

    def default_text(self) -> str:
        if self.kind is bool:
            return "on" if self.default else "off"
        if self.default is None:
            return f"none: {self.unset}"
        return number_text(self.default) if self.kind is float else str(self.default)

    def from_host(self, raw: Any) -> Any:
        """A host widget's value as a setting value: 0 or "" in an optional setting means None."""
        if self.unset and (raw is None or (isinstance(raw, str) and not raw.strip()) or raw == 0):
            return None
        return self.kind(raw.strip() if isinstance(raw, str) else raw)


def number_text(value: float) -> str:
    """1.0 -> "1", 2.5 -> "2.5": how help, messages and the gizmo write numbers."""
    return str(int(value)) if value == int(value) else str(value)


SETTINGS: tuple[Setting, ...] = (
    Setting("num_inference_steps", int, 50, "steps", "denoising steps", "--steps", 1, 1000),
    Setting("guidance_scale", float, 6.0, "guidance scale", "classifier-free guidance scale", "--guidance", 0, 50),
    Setting("restoration_guidance_scale", float, -1.0, "restoration guidance",
            "restoration-guided sampling strength; <= 0 disables it", "--restoration-guidance", None, 20),
    Setting("upscale", float, 0.0, "upscale", "resize factor; 0: the short side becomes 1024", "--upscale", 0, 16),
    Setting("short_side", int, None, "short side", "target short side in pixels; overrides upscale",
            "--short-side", 16, MAX_OUTPUT_SIDE, unset="use upscale"),
    Setting("tile_size", int, 128, "tile size", "latent pixels per spatial tile (even; x8 in image pixels)",
            "--tile-size", 8),
    Setting("num_temporal_process_frames", int, 121, "window frames", "frames per temporal window (8k+1)",
            "--window-frames", 1),
    Setting("seed", int, 42, "seed", "random seed", "--seed", 0, 2**63 - 1),
    Setting("caption", str, None, "caption", "fixed caption (skips the captioning model)", "--caption",
            unset="the captioning model describes the clip"),
    Setting("color_fix", str, "adain", "color fix", "match the input's colour", "--color-fix", choices=COLOR_FIXES),
    Setting("textfix", bool, False, "text fix",
            "repair on-screen text with Real-ESRGAN where a text detector sees text (needs RealESRGAN/, easyocr/)",
            "--textfix"),
    Setting("offload", str, "none", "offload",
            "GPU memory mode: 'model' keeps the text encoder and VAE off the GPU between phases (about 10 GiB less,"
            " same result)", "--offload", choices=OFFLOAD_MODES),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


def problems(values: dict[str, Any]) -> list[str]:
    """Every value in `values` (setting name -> value) that is out of range, of the wrong kind, or unknown."""
    found = [f"unknown setting {name!r}" for name in values if name not in BY_NAME]
    found += [p for name, value in values.items() if name in BY_NAME and (p := BY_NAME[name].problem(value))]
    return found


def defaults() -> dict[str, Any]:
    return {setting.name: setting.default for setting in SETTINGS}
