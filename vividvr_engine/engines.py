"""Engine registry: one place that maps an engine name to the class that implements it."""

from __future__ import annotations

import importlib
from pathlib import Path

from vividvr_engine.engine import RestorationEngine
from vividvr_engine.errors import SettingsError

# name -> "module:Class"; imported lazily so the preview engine never pays for torch models.
ENGINES = {
    "vividvr": "vividvr_engine.pipeline:VividVREngine",
    "preview": "vividvr_engine.preview:PreviewEngine",
    "realesrgan": "vividvr_engine.realesrgan_engine:RealESRGANEngine",
}


def create_engine(
    name: str,
    checkpoints: Path | None = None,
    device: str | None = None,
    *,
    offload: str = "none",
) -> RestorationEngine:
    """Build the named engine; heavy engines validate their checkpoints before loading anything.

    What is loaded depends on these arguments alone (the dtype follows the device), so an engine
    is reused for every job that agrees on them; per-job settings go to `restore`.
    """
    if name not in ENGINES:
        raise SettingsError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    module_name, class_name = ENGINES[name].split(":")
    engine_class = getattr(importlib.import_module(module_name), class_name)
    return engine_class.create(checkpoints=checkpoints, device=device, offload=offload)
