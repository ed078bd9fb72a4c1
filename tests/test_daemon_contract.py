"""The contract: generated stubs match the .proto, settings map one for one, the client stays light."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from vividvr_client.client import make_request
from vividvr_client.v1 import daemon_pb2 as pb
from vividvr_daemon.admission import settings_from_proto
from vividvr_engine.settings import RestoreSettings

GENERATOR = Path(__file__).resolve().parents[1] / "scripts" / "generate_stubs.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_stubs", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_stubs_match_a_fresh_generation_from_the_protos(tmp_path) -> None:
    codegen = load_generator()
    fresh = codegen.generate(tmp_path)
    assert {p.name for p in fresh} == {"daemon_pb2.py", "daemon_pb2.pyi", "daemon_pb2_grpc.py"}
    for path in fresh:
        checked_in = codegen.STUB_DIR / path.name
        assert checked_in.read_bytes() == path.read_bytes(), (
            f"{checked_in} is stale: run `.venv/bin/python scripts/generate_stubs.py`"
        )


def test_every_engine_setting_in_the_proto_is_a_restore_setting() -> None:
    proto_names = {f.name for f in pb.EngineSettings.DESCRIPTOR.fields} - {"engine"}
    assert proto_names <= {f.name for f in fields(RestoreSettings)}


def test_settings_round_trip_through_the_proto_and_unset_fields_keep_defaults() -> None:
    request = make_request(
        "/a.mov",
        "/out",
        "x.mov",
        engine="preview",
        settings={"num_inference_steps": 7, "caption": "a cat", "seed": None},
    )
    msg = request.settings
    engine, settings = settings_from_proto(msg)
    assert engine == "preview"
    assert settings == RestoreSettings(num_inference_steps=7, caption="a cat")
    assert settings_from_proto(pb.EngineSettings())[1] == RestoreSettings()


def test_the_client_package_imports_without_torch_the_engine_or_the_daemon() -> None:
    code = (
        "import sys, pkgutil, importlib, vividvr_client as p;"
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(p.__path__, 'vividvr_client.')];"
        "import vividvr_client.client as c; c.make_request('/a.mov', '/out', 'x.mov');"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('torch', 'vividvr_engine', 'vividvr_daemon', 'vividvr_cli', 'numpy', 'opentimelineio'));"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stdout + result.stderr


def test_clip_names_for_output_templates_drop_frame_fields_and_extensions():
    from vividvr_daemon.admission import clip_name

    assert clip_name("/shots/plate.####.exr") == "plate"
    assert clip_name("/shots/plate.%04d.exr") == "plate"
    assert clip_name("/shots/plate.[1001-1100].exr") == "plate"  # how Resolve names a sequence clip
    assert clip_name("/shots/A001_C002.mov") == "A001_C002"
    assert clip_name("/shots/notes.txt") == "notes.txt"
