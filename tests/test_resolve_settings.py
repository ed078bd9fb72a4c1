"""The Resolve plugin's settings: saved between runs, non-interactive mode, clear errors, request values."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from vividvr_resolve.settings import NONINTERACTIVE_ENV, SETTINGS_ENV, PluginSettings, SettingsProblem, load, save


def test_saved_settings_come_back_on_the_next_run(tmp_path: Path) -> None:
    chosen = PluginSettings(preset="Custom", steps=30, guidance=4.5, size_mode="short_side", short_side=2160,
                            output_format="exr", output_dir="/renders", handles=8, caption="a street at night",
                            mode="queue", placement="track", clip_color="Orange")
    path = save(chosen, tmp_path / "deep" / "settings.json")
    assert load(path) == chosen
    assert not list(tmp_path.rglob("*.partial"))


def test_settings_file_and_noninteractive_mode_come_from_the_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "studio.json"
    path.write_text(json.dumps({"output_dir": "/renders", "handles": 3}))
    monkeypatch.setenv(SETTINGS_ENV, str(path))
    assert load() == PluginSettings(output_dir="/renders", handles=3)
    monkeypatch.setenv(NONINTERACTIVE_ENV, "1")
    assert load().interactive is False


def test_missing_file_gives_defaults_and_a_damaged_one_a_clear_error(tmp_path: Path) -> None:
    assert load(tmp_path / "none.json") == PluginSettings()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SettingsProblem, match=r"bad\.json: cannot read saved settings"):
        load(bad)
    bad.write_text(json.dumps({"handels": 3}))
    with pytest.raises(SettingsProblem, match="unknown settings handels"):
        load(bad)


@pytest.mark.parametrize(("change", "message"), [
    ({"output_dir": ""}, "choose an output folder"),
    ({"clip_color": "Red"}, "clip_color must be one of Orange"),
    ({"mode": "later"}, "mode must be one of render, queue"),
    ({"handles": -1}, "handles must be 0 or more"),
    ({"output_format": "gif"}, "output_format must be one of"),
])
def test_bad_values_are_named(change: dict, message: str) -> None:
    with pytest.raises(SettingsProblem, match=message):
        replace(PluginSettings(output_dir="/renders"), **change).check()


def test_presets_and_size_choose_the_engine_settings() -> None:
    draft = PluginSettings(preset="Draft", steps=99, upscale=4.0, caption="  ")
    assert draft.engine_settings() == {"num_inference_steps": 20, "guidance_scale": 6.0, "upscale": 4.0}
    custom = PluginSettings(preset="Custom", steps=35, guidance=3.0, size_mode="short_side", short_side=1440,
                            caption="old film", engine_options={"seed": 7})
    assert custom.engine_settings() == {"num_inference_steps": 35, "guidance_scale": 3.0, "short_side": 1440,
                                        "caption": "old film", "seed": 7}


def test_output_names_keep_the_clip_name_and_escape_braces() -> None:
    assert PluginSettings(output_format="exr").name_template("shot{1}") == "shot{{1}}_vividvr_{job}.####.exr"
    assert PluginSettings().name_template("plate") == "plate_vividvr_{job}.mov"
