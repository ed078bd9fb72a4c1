"""One declaration of the engine settings: the engine, the proto, the CLI, Nuke and Resolve all follow it."""

from __future__ import annotations

import subprocess
import sys
import typing
from dataclasses import asdict, fields
from pathlib import Path

import grpc
import nuke_support as ns
import pytest
from google.protobuf.descriptor import FieldDescriptor
from nuke_support import nuke

from vividvr_client.client import make_request, pb
from vividvr_client.settings_spec import SETTINGS
from vividvr_daemon.admission import RequestError, settings_from_proto
from vividvr_engine.errors import SettingsError
from vividvr_engine.settings import RestoreSettings

# a valid value other than the default for every setting
OTHER = {
    "num_inference_steps": 7, "guidance_scale": 3.5, "restoration_guidance_scale": 2.0, "upscale": 0.0,
    "short_side": 720, "tile_size": 64, "num_temporal_process_frames": 17, "seed": 2**40, "caption": "a dog",
    "color_fix": "wavelet", "textfix": True, "offload": "model",
}
PROTO_TYPES = {int: FieldDescriptor.TYPE_INT64, float: FieldDescriptor.TYPE_DOUBLE,
               str: FieldDescriptor.TYPE_STRING, bool: FieldDescriptor.TYPE_BOOL}


def test_restore_settings_take_every_name_type_and_default_from_the_declaration() -> None:
    hints = typing.get_type_hints(RestoreSettings)
    assert [f.name for f in fields(RestoreSettings)] == [s.name for s in SETTINGS]
    for setting in SETTINGS:
        assert getattr(RestoreSettings(), setting.name) == setting.default, setting.name
        assert setting.kind in typing.get_args(hints[setting.name]) or hints[setting.name] is setting.kind
    assert set(OTHER) == {s.name for s in SETTINGS}
    assert all(OTHER[s.name] != s.default for s in SETTINGS if s.name != "upscale")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_values_outside_the_declared_range_or_choices_are_refused_by_the_engine(setting) -> None:  # type: ignore[no-untyped-def]
    bad = [v for v in (setting.minimum - 1 if setting.minimum is not None else None,
                       setting.maximum + 1 if setting.maximum is not None else None) if v is not None]
    bad += ["not-a-choice"] if setting.choices else []
    for value in bad:
        with pytest.raises(SettingsError, match=setting.words):
            RestoreSettings(**{setting.name: setting.kind(value)})
        assert setting.problem(setting.kind(value))


def test_the_proto_carries_every_setting_and_nothing_else_both_ways() -> None:
    proto = {f.name: f for f in pb.EngineSettings.DESCRIPTOR.fields if f.name != "engine"}
    assert list(proto) == [s.name for s in SETTINGS]
    for setting in SETTINGS:
        assert proto[setting.name].type == PROTO_TYPES[setting.kind], setting.name
        assert proto[setting.name].has_presence, f"{setting.name}: unset must mean the engine default"
    request = make_request("/m/a.mov", "/o", "x.mov", settings=OTHER)
    assert settings_from_proto(request.settings) == ("vividvr", RestoreSettings(**OTHER))
    assert settings_from_proto(make_request("/m/a.mov", "/o", "x.mov").settings)[1] == RestoreSettings()
    with pytest.raises(RequestError) as refused:
        settings_from_proto(make_request("/m/a.mov", "/o", "x.mov", settings={"seed": -5}).settings)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT and "seed must be between 0" in refused.value.message


def run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def test_the_declaration_imports_without_torch_and_the_cli_commands_without_a_circle() -> None:
    assert run_python("import sys, vividvr_client.settings_spec; print('torch' in sys.modules)") == "False"
    submit_only = ("import argparse, sys; from vividvr_cli import daemon_command;"
                   " daemon_command.register(argparse.ArgumentParser().add_subparsers());"
                   " print('vividvr_cli.restore_command' in sys.modules)")
    assert run_python(submit_only) == "False"  # submit's flags come from their own module


@pytest.mark.parametrize("command", ["restore", "submit"])
def test_cli_help_shows_every_setting_with_its_default_and_flags_become_the_same_settings(command: str) -> None:
    from vividvr_cli.main import build_parser
    from vividvr_cli.restore_flags import setting_values

    parser = build_parser()
    text = " ".join(run_python(f"from vividvr_cli.main import main; main(['{command}', '--help'])").split())
    for setting in SETTINGS:
        assert setting.flag in text, setting.flag
        assert f"default {setting.default_text()}" in text, setting.name
    argv = [command, "in.mov", "-o", "out.mov"]
    for setting in SETTINGS:
        if setting.name == "upscale":
            continue  # exclusive with --short-side
        argv += [setting.flag] if setting.kind is bool else [setting.flag, str(OTHER[setting.name])]
    values = setting_values(parser.parse_args(argv))
    assert RestoreSettings(**values) == RestoreSettings(**{k: v for k, v in OTHER.items() if k != "upscale"})
    assert setting_values(parser.parse_args([command, "in.mov", "-o", "out.mov"])) == {}


def test_the_gizmo_engine_tab_is_the_generated_one() -> None:
    from vividvr_nuke.gizmo import GIZMO, with_engine_tab

    text = GIZMO.read_text()
    assert with_engine_tab(text) == text, "run python plugins/nuke/vividvr_nuke/gizmo.py"


def test_nuke_refuses_knobs_out_of_range_and_a_gizmo_whose_knobs_nuke_made_otherwise(tmp_path: Path) -> None:
    from vividvr_nuke.gizmo import GIZMO

    ns.start_session(tmp_path / "home")
    node = ns.vividvr_node(None, tmp_path / "out", daemon="127.0.0.1:1")
    node.setInput(0, ns.plate_read(str(tmp_path / "x.mov"), 1, 1))
    node["num_inference_steps"].setValue(0)
    from vividvr_nuke.job import engine_settings
    from vividvr_nuke.plate import PlateError

    with pytest.raises(PlateError, match=r"^VividVR1: steps must be between 1 and 1000, got 0"):
        engine_settings(node)
    node["num_inference_steps"].setValue(20)
    shown = {"upscale": 2.0, "num_temporal_process_frames": 9, "num_inference_steps": 20}  # as the test set them
    assert engine_settings(node) == {**asdict(RestoreSettings()), **shown}

    other = tmp_path / "plugins"
    other.mkdir()
    (other / "VividVR.gizmo").write_text(GIZMO.read_text().replace("addUserKnob {3 seed", "addUserKnob {1 seed"))
    nuke.pluginAddPath(str(other))  # an old or edited gizmo earlier on the plugin path
    node = nuke.createNode("VividVR")
    with pytest.raises(PlateError, match=r"knob seed is String_Knob, not Int_Knob.*vividvr plugins install nuke"):
        engine_settings(node)


def test_resolve_engine_fields_and_checks_follow_the_declaration() -> None:
    from vividvr_resolve.dialog import fields as dialog_fields
    from vividvr_resolve.settings import PluginSettings, SettingsProblem

    by_id = {f.id: f for f in dialog_fields(PluginSettings(), 1)}
    assert by_id["Steps"].maximum == 1000 and by_id["ShortSide"].maximum == 16384
    assert (PluginSettings().steps, PluginSettings().guidance) == (50, 6.0)
    with pytest.raises(SettingsProblem, match="window frames must be >= 1"):
        PluginSettings(output_dir="/o", engine_options={"num_temporal_process_frames": 0}).check()
    with pytest.raises(SettingsProblem, match="unknown setting 'steps'"):
        PluginSettings(output_dir="/o", engine_options={"steps": 3}).check()
