"""Colour transforms between a file's encoding and the engine's working values.

Engines see float32 RGB nominally in [0, 1]. Display-referred sources (8/10/16-bit video and
images) already are: their code values divided by the maximum, untouched. Scene-linear float
sources (EXR) are not: a highlight at 8.0 would be clipped by any model trained on [0, 1] data.
They pass through a log shaper instead (the ACEScct curve: 0.18 -> 0.41, 1.0 -> 0.55, 222.9 -> 1.0)
whose inverse is applied on output, so every value, negative or above 1, comes back exactly
(to float32 precision). With OpenColorIO installed, a config plus input and working colour
spaces can replace the default; its inverse processor maps back on output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vividvr_engine.errors import MediaError, SettingsError

# ACEScct constants (S-2016-001): a linear toe below X_BREAK, pure log2 above.
_X_BREAK = 0.0078125
_Y_BREAK = 0.155251141552511
_TOE_SLOPE = 10.5402377416545
_TOE_OFFSET = 0.0729055341958355
_LOG_OFFSET = 9.72
_LOG_SCALE = 17.52


class ColourTransform(Protocol):
    """Maps file values to working values and back; `from_working(to_working(x)) == x`."""

    name: str

    def to_working(self, rgb: np.ndarray) -> np.ndarray: ...

    def from_working(self, rgb: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Identity:
    """Display-referred code values are already the engine's working values."""

    name: str = "identity"

    def to_working(self, rgb: np.ndarray) -> np.ndarray:
        return rgb

    def from_working(self, rgb: np.ndarray) -> np.ndarray:
        return rgb


@dataclass(frozen=True)
class SceneLinearShaper:
    """Scene-linear <-> ACEScct-style log: every real value maps to a finite value and back."""

    name: str = "scene-linear-shaper"

    def to_working(self, rgb: np.ndarray) -> np.ndarray:
        x = rgb.astype(np.float32, copy=False)
        toe = x <= _X_BREAK
        log = (np.log2(np.where(toe, 1.0, x), dtype=np.float32) + _LOG_OFFSET) / _LOG_SCALE
        return np.where(toe, x * _TOE_SLOPE + _TOE_OFFSET, log).astype(np.float32)

    def from_working(self, rgb: np.ndarray) -> np.ndarray:
        y = rgb.astype(np.float32, copy=False)
        toe = y <= _Y_BREAK
        lin = np.exp2(np.where(toe, 0.0, y) * _LOG_SCALE - _LOG_OFFSET, dtype=np.float32)
        return np.where(toe, (y - _TOE_OFFSET) / _TOE_SLOPE, lin).astype(np.float32)


@dataclass(frozen=True)
class OcioColourSpaces:
    """An OpenColorIO config (path or ``ocio://`` built-in name) and the spaces to convert between."""

    config: str
    input_space: str
    working_space: str


class OcioTransform:
    """OpenColorIO processors `input_space -> working_space` and back, applied on the CPU."""

    def __init__(self, spaces: OcioColourSpaces) -> None:
        try:
            import PyOpenColorIO as ocio
        except ImportError:
            raise SettingsError(
                "an OpenColorIO config was given but PyOpenColorIO is not installed (pip install opencolorio)"
            ) from None
        try:
            config = ocio.Config.CreateFromFile(spaces.config)
            self._forward = config.getProcessor(spaces.input_space, spaces.working_space).getDefaultCPUProcessor()
            self._inverse = config.getProcessor(spaces.working_space, spaces.input_space).getDefaultCPUProcessor()
        except (ocio.Exception, ocio.ExceptionMissingFile) as exc:
            raise SettingsError(f"OpenColorIO config {spaces.config}: {exc}") from None
        self.name = f"ocio:{spaces.input_space}->{spaces.working_space}"

    @staticmethod
    def _apply(processor, rgb: np.ndarray) -> np.ndarray:
        out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
        processor.applyRGB(out)
        return out

    def to_working(self, rgb: np.ndarray) -> np.ndarray:
        return self._apply(self._forward, rgb)

    def from_working(self, rgb: np.ndarray) -> np.ndarray:
        return self._apply(self._inverse, rgb)


def choose_transform(source_is_float: bool, ocio: OcioColourSpaces | None = None) -> ColourTransform:
    """The declared transform: OCIO when configured, else the shaper for float sources, else identity."""
    if ocio is not None:
        return OcioTransform(ocio)
    return SceneLinearShaper() if source_is_float else Identity()


def quantize(rgb: np.ndarray, bits: int, path: str) -> np.ndarray:
    """Float [0, 1] -> unsigned integers of `bits` bits, rounding to nearest.

    Integer files cannot hold values outside [0, 1]; those are clipped here, never wrapped by a
    cast, and the restore job warns how many frames needed it.
    """
    if not np.isfinite(rgb).all():
        raise MediaError(f"{path}: frame has NaN or infinite values, which {bits}-bit files cannot hold")
    top = (1 << bits) - 1
    dtype = np.uint8 if bits <= 8 else np.uint16
    return np.clip(np.rint(rgb * top), 0, top).astype(dtype)
