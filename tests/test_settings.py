"""Restoration settings: reference defaults, and clear refusals of absurd values."""

from __future__ import annotations

import pytest

from vividvr_engine.errors import SettingsError
from vividvr_engine.settings import RestoreSettings


def test_defaults_follow_the_reference():
    s = RestoreSettings()
    assert (s.num_inference_steps, s.guidance_scale, s.tile_size) == (50, 6.0, 128)
    assert (s.num_temporal_process_frames, s.restoration_guidance_scale, s.upscale, s.seed) == (121, -1.0, 0.0, 42)
    assert s.output_size(360, 640) == (1024, 1820)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"num_inference_steps": 0}, "steps must be between 1 and 1000"),
        ({"tile_size": -8}, "tile size"),
        ({"tile_size": 7}, "tile size"),
        ({"num_temporal_process_frames": 120}, "8k\\+1"),
        ({"upscale": -1}, "upscale"),
        ({"short_side": 100000}, "short side"),
        ({"color_fix": "sepia"}, "color fix"),
        ({"offload": "disk"}, "offload must be one of"),
        ({"guidance_scale": -2}, "guidance"),
    ],
)
def test_absurd_values_are_refused_with_the_setting_named(values, message):
    with pytest.raises(SettingsError, match=message):
        RestoreSettings(**values)


def test_output_size_by_factor_or_short_side():
    assert RestoreSettings(upscale=2).output_size(120, 212) == (240, 424)
    assert RestoreSettings(short_side=720).output_size(480, 640) == (720, 960)


def test_outputs_larger_than_supported_are_refused():
    with pytest.raises(SettingsError, match="output would be"):
        RestoreSettings(upscale=16).output_size(2160, 3840)


def test_round_trip_through_a_dict():
    s = RestoreSettings(seed=3, caption="a dog")
    assert RestoreSettings.from_dict(s.to_dict()) == s
    with pytest.raises(SettingsError, match="unknown settings: bogus"):
        RestoreSettings.from_dict({"bogus": 1})
