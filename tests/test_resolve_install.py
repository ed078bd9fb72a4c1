"""`vividvr plugins install|uninstall resolve`: files land where hosts.md says, per OS, and leave cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vividvr_cli.main import main as vividvr
from vividvr_cli.plugins_command import HOSTS, InstallTarget, installer
from vividvr_resolve.install import install, uninstall

SCRIPTS = {
    "Darwin": "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts",
    "Windows": "AppData/Roaming/Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts",
    "Linux": ".local/share/DaVinciResolve/Fusion/Scripts",
}
LIBRARY = {
    "Darwin": "Library/Application Support/VividVR/resolve/lib",
    "Windows": "AppData/Roaming/VividVR/resolve/lib",
    "Linux": ".local/share/vividvr/resolve/lib",
}
MENU = ["Edit/Restore with Vivid-VR.py", "Utility/Restore with Vivid-VR.py", "Edit/Collect Vivid-VR restores.py",
        "Utility/Collect Vivid-VR restores.py", "Tool/Restore with Vivid-VR.py"]


def target(system: str, home: Path, python: str | None = None) -> InstallTarget:
    env = {"APPDATA": str(home / "AppData" / "Roaming")} if system == "Windows" else {}
    return InstallTarget(system, home, env, python)


@pytest.mark.parametrize("system", sorted(SCRIPTS))
def test_install_puts_menu_scripts_and_library_where_resolve_and_the_scripts_look(tmp_path: Path, system: str) -> None:
    report = install(target(system, tmp_path))

    scripts = tmp_path / SCRIPTS[system]
    lib = tmp_path / LIBRARY[system]
    assert sorted(report.written) == sorted([lib, *(scripts / m for m in MENU)])
    for menu in MENU:
        text = (scripts / menu).read_text()
        assert f"VIVIDVR_LIB = {str(lib)!r}" in text
    for module in ("vividvr_resolve/workflow.py", "vividvr_client/client.py", "vividvr_client/v1/daemon_pb2.py",
                   "vividvr_client/timecode.py"):
        assert (lib / module).is_file(), module
    assert not (lib / "vividvr_resolve" / "install.py").exists()  # needs the CLI, which Resolve's Python lacks
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.parametrize("system", sorted(SCRIPTS))
def test_uninstall_removes_what_install_wrote_and_nothing_else(tmp_path: Path, system: str) -> None:
    install(target(system, tmp_path))
    scripts = tmp_path / SCRIPTS[system]
    own = scripts / "Edit" / "My own script.py"
    own.write_text("print('mine')\n")

    report = uninstall(target(system, tmp_path))

    assert len(report.removed) == len(MENU) + 1
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [own]
    assert uninstall(target(system, tmp_path)).removed == []


def test_installed_script_imports_the_copied_library_not_the_source_tree(tmp_path: Path) -> None:
    install(target("Linux", tmp_path))
    script = tmp_path / SCRIPTS["Linux"] / "Edit" / "Restore with Vivid-VR.py"
    probe = ("import runpy, sys; ns = runpy.run_path(sys.argv[1], run_name='menu'); ns['_use_library']();"
             " import vividvr_resolve.entry, vividvr_client.client, vividvr_client.timecode as t;"
             " print(vividvr_resolve.entry.__file__); print(t.__file__)")
    result = subprocess.run([sys.executable, "-c", probe, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lib = str(tmp_path / LIBRARY["Linux"])
    assert all(line.startswith(lib) for line in result.stdout.splitlines()), result.stdout
    assert "torch" not in result.stdout


def test_python_check_reports_missing_client_packages_with_the_command_to_run(tmp_path: Path) -> None:
    bare = tmp_path / "bare-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    python = str(bare / "bin" / "python")

    notes = install(target("Linux", tmp_path / "home", python)).notes

    assert any(n.startswith(f"{python} lacks the client's packages") and f"{python} -m pip install --user" in n
               and "'grpcio>=" in n and "'protobuf>=" in n for n in notes), notes
    notes = install(target("Linux", tmp_path / "home", sys.executable)).notes
    assert f"{sys.executable} already has the client's packages (grpcio, protobuf)" in notes


def test_macos_note_names_the_python_resolve_finds(tmp_path: Path) -> None:
    (note, _) = install(target("Darwin", tmp_path)).notes
    assert "/usr/local/bin/python3 -m pip install --user 'grpcio>=" in note


def test_cli_install_and_uninstall_with_a_temporary_home(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("platform.system", lambda: "Linux")
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)

    assert vividvr(["plugins", "install", "resolve"]) == 0
    out = capsys.readouterr().out
    assert f"installed {tmp_path / SCRIPTS['Linux'] / 'Edit' / 'Restore with Vivid-VR.py'}" in out
    assert vividvr(["plugins", "uninstall", "resolve"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert vividvr(["plugins", "uninstall", "resolve"]) == 0
    assert "nothing of the resolve plugin was installed" in capsys.readouterr().out


def test_every_host_in_the_table_has_an_installer() -> None:
    for host in HOSTS:
        module = installer(host)
        assert callable(module.install) and callable(module.uninstall), host
