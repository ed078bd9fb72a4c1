"""What the artist chose in the dialog, saved between runs, and turned into daemon requests.

Saved as JSON in VividVR's per-user folder (or the file `VIVIDVR_RESOLVE_SETTINGS` names). With
`VIVIDVR_RESOLVE_NONINTERACTIVE=1`, or `"interactive": false` in the file, the scripts run with the
saved settings and show no dialog (render nodes, pipeline tools, tests).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from vividvr_client import settings_spec
from vividvr_resolve.locations import current_user_dir

SETTINGS_ENV = "VIVIDVR_RESOLVE_SETTINGS"
NONINTERACTIVE_ENV = "VIVIDVR_RESOLVE_NONINTERACTIVE"
PRESETS = {"Draft": (20, 6.0), "Final": (50, 6.0)}  # (steps, guidance); "Custom" uses the fields as set
OUTPUT_NAMES = {  # format -> file name ending; {job} keeps every restore distinct
    "prores": "_vividvr_{job}.mov",
    "prores4444": "_vividvr_{job}.mov",
    "dnxhr": "_vividvr_{job}.mov",
    "h264": "_vividvr_{job}.mp4",
    "h265": "_vividvr_{job}.mp4",
    "exr": "_vividvr_{job}.####.exr",
    "tiff16": "_vividvr_{job}.####.tif",
    "png16": "_vividvr_{job}.####.png",
}
MODES = ("render", "queue")  # render now and bring back, or queue for overnight and collect later
PLACEMENTS = ("take", "track")  # a take on the original item, or the first free track above it
CLIP_COLORS = ("Orange", "Apricot", "Yellow", "Lime", "Olive", "Green", "Teal", "Navy", "Blue", "Purple", "Violet",
               "Pink", "Tan", "Beige", "Brown", "Chocolate")  # the only names SetClipColor takes (hosts.md)


class SettingsProblem(ValueError):
    """A saved or entered setting is unusable; the message names it."""


@dataclass(frozen=True)
class PluginSettings:
    preset: str = "Final"  # Draft, Final or Custom
    steps: int = settings_spec.BY_NAME["num_inference_steps"].default
    guidance: float = settings_spec.BY_NAME["guidance_scale"].default
    size_mode: str = "upscale"  # "upscale" (factor) or "short_side" (pixels)
    upscale: float = 2.0
    short_side: int = 1080
    output_format: str = "prores"
    output_dir: str = ""
    handles: int = 12
    caption: str = ""  # empty: the daemon captions the clip itself
    mode: str = "render"
    placement: str = "take"
    clip_color: str = "Teal"
    daemon: str = "127.0.0.1:50777"
    engine: str = "vividvr"  # "preview" runs the fast stand-in engine (tests, quick looks)
    engine_options: dict | None = None  # extra RestoreSettings values (e.g. num_temporal_process_frames)
    interactive: bool = True
    connect_timeout: float = 5.0

    def check(self) -> PluginSettings:
        """Self, or SettingsProblem naming the first bad value."""
        choices = (("preset", (*PRESETS, "Custom")), ("size_mode", ("upscale", "short_side")),
                   ("output_format", tuple(OUTPUT_NAMES)), ("mode", MODES), ("placement", PLACEMENTS),
                   ("clip_color", CLIP_COLORS))
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise SettingsProblem(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        if self.handles < 0:
            raise SettingsProblem(f"handles must be 0 or more frames, not {self.handles}")
        if not self.output_dir:
            raise SettingsProblem("choose an output folder (one the daemon may write to)")
        problems = settings_spec.problems(self.engine_settings())  # the engine's own ranges and choices
        if problems:
            raise SettingsProblem("; ".join(problems))
        return self

    def steps_and_guidance(self) -> tuple[int, float]:
        return PRESETS.get(self.preset, (self.steps, self.guidance))

    def engine_settings(self) -> dict:
        """RestoreSettings values for the request (names as in vividvr_engine.settings)."""
        steps, guidance = self.steps_and_guidance()
        values: dict = {"num_inference_steps": steps, "guidance_scale": guidance}
        if self.size_mode == "upscale":
            values["upscale"] = float(self.upscale)
        else:
            values["short_side"] = int(self.short_side)
        if self.caption.strip():
            values["caption"] = self.caption.strip()
        values.update(self.engine_options or {})
        return values

    def name_template(self, clip_name: str) -> str:
        """The daemon's name template for a clip: its own name (braces escaped), then the format's ending."""
        return clip_name.replace("{", "{{").replace("}", "}}") + OUTPUT_NAMES[self.output_format]


def settings_path() -> Path:
    configured = os.environ.get(SETTINGS_ENV)
    return Path(configured) if configured else current_user_dir() / "resolve-settings.json"


def load(path: Path | None = None) -> PluginSettings:
    """Saved settings, defaults for what is missing; SettingsProblem names a damaged file."""
    path = path or settings_path()
    if not path.exists():
        settings = PluginSettings()
    else:
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SettingsProblem(f"{path}: cannot read saved settings ({exc})") from None
        known = {f.name for f in fields(PluginSettings)}
        unknown = sorted(set(values) - known) if isinstance(values, dict) else ["(not an object)"]
        if unknown:
            raise SettingsProblem(f"{path}: unknown settings {', '.join(unknown)}")
        settings = PluginSettings(**values)
    if os.environ.get(NONINTERACTIVE_ENV, "") not in ("", "0"):
        settings = replace(settings, interactive=False)
    return settings


def save(settings: PluginSettings, path: Path | None = None) -> Path:
    """Write atomically, so a crash never leaves a half-written file that fails the next run."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(json.dumps(asdict(settings), indent=2, sort_keys=True), encoding="utf-8")
    temporary.replace(path)
    return path
