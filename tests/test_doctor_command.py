"""`vividvr doctor`: what a restore needs on this machine, each blocker with the command that fixes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_support import start_daemon

from vividvr_cli.main import main
from vividvr_cli.plugins_command import InstallTarget
from vividvr_resolve.install import install, library_dir

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "checkpoints"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "VIVIDVR_DAEMON", "VIVIDVR_DAEMON_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return home


def doctor(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, dict]:
    code = main(["doctor", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/reference/checkpoints")
def test_json_names_daemon_plugins_and_the_tiny_tree_as_a_blocker_with_its_fix(home, tmp_path, capsys) -> None:
    install(InstallTarget("Linux", home, {}, sys.executable))
    daemon = start_daemon(tmp_path)
    try:
        code, report = doctor(capsys, "--checkpoints", str(REFERENCE), "--daemon", daemon.address)
    finally:
        daemon.stop()

    assert code == 1
    assert {"torch", "devices", "checkpoints", "daemon", "plugins"} <= set(report)
    assert report["torch"]["version"].startswith("2.") and report["devices"][0]["memory_free_bytes"] > 0
    assert report["daemon"] | {"devices": None} == {"address": daemon.address, "reachable": True, "version": "0.1.0",
                                                    "devices": None, "jobs_queued": 0, "jobs_running": 0}
    assert [d["name"] for d in report["daemon"]["devices"]] == ["cpu"]
    resolve = report["plugins"]["resolve"]
    assert resolve["installed"] and resolve["current"] and resolve["client_importable"] is True
    assert report["plugins"]["nuke"] == {"installed": False}
    vividvr = report["checkpoints"]["parts"]["vividvr"]
    assert not vividvr["ok"]
    assert any("transformer/diffusion_pytorch_model.safetensors holds" in p and "not the published" in p
               for p in vividvr["problems"])
    (blocker,) = report["blockers"]
    assert blocker["fix"] == f"vividvr models download --what vividvr --checkpoints {REFERENCE}"


def test_nothing_blocks_a_preview_restore_without_daemon_or_checkpoints(home, tmp_path, capsys) -> None:
    code, report = doctor(capsys, "--engine", "preview", "--checkpoints", str(tmp_path / "none"),
                          "--daemon", "127.0.0.1:9")

    assert code == 0 and report["blockers"] == []
    assert report["daemon"]["reachable"] is False
    assert any(w["fix"] == "vividvr daemon start" and w["what"].startswith("no daemon answers at 127.0.0.1:9")
               for w in report["warnings"])
    assert all(not p["ok"] for p in report["checkpoints"]["parts"].values())


def test_an_old_plugin_and_a_host_python_without_the_client_are_named_with_their_fixes(home, tmp_path, capsys):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    python = str(bare / "bin" / "python")
    target = InstallTarget("Linux", home, {}, python)
    install(target)
    stamp = library_dir(target) / "vividvr_plugin.json"
    stamp.write_text(json.dumps({"version": "0.0.9", "python": python}))

    code, report = doctor(capsys, "--engine", "preview", "--checkpoints", str(tmp_path), "--daemon", "127.0.0.1:9")

    assert code == 0
    assert report["plugins"]["resolve"]["client_importable"] is False
    fixes = {w["fix"]: w["what"] for w in report["warnings"]}
    assert "0.0.9" in fixes["vividvr plugins install resolve"]
    assert "No module named 'grpc'" in fixes[f"vividvr plugins install resolve --python {python} --install-packages"]


def test_text_report_lists_each_blocker_with_its_fix(home, tmp_path, capsys) -> None:
    code = main(["doctor", "--checkpoints", str(tmp_path), "--daemon", "127.0.0.1:9"])

    out = capsys.readouterr().out
    assert code == 1
    assert f"BLOCKER: checkpoints for vividvr under {tmp_path}: missing" in out
    assert f"    fix: vividvr models download --what vividvr --checkpoints {tmp_path}" in out
    assert out.rstrip().endswith("1 blocker(s) for a restore with --engine vividvr")
