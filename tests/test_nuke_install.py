"""`vividvr plugins install|uninstall nuke`: Nuke finds the node, its menu and libraries; uninstall undoes only that."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nuke_support as ns
import pytest

from vividvr_cli.main import main

USER_INIT = "import nuke\nnuke.pluginAddPath('./gizmos')  # the user's own line\n"

# A fresh Nuke (the fake, GUI mode) started with this home: what did it load, and from where?
STARTUP = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import nuke
nuke.fake_startup(True, Path(sys.argv[1]), nuke_path="")
node = nuke.menu("Nodes").fake_invoke("VividVR/Restore")
import vividvr_client.client, vividvr_client.timecode, vividvr_nuke
print(node.Class(), node["num_inference_steps"].value())
for module in (vividvr_nuke, vividvr_client.client, vividvr_client.timecode):
    print(module.__file__)
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".nuke").mkdir()
    (tmp_path / ".nuke" / "init.py").write_text(USER_INIT)
    return tmp_path


def start_nuke(home: Path) -> list[str]:
    result = subprocess.run([sys.executable, "-c", STARTUP, str(home), str(ns.FAKES)],
                            capture_output=True, text=True, check=True, cwd=home)
    return result.stdout.splitlines()


def test_installed_plugin_loads_in_nuke_from_the_users_nuke_folder(home: Path, capsys) -> None:
    assert main(["plugins", "install", "nuke"]) == 0
    out = capsys.readouterr().out
    assert f"installed {home / '.nuke' / 'vividvr'}" in out
    assert "pip install --target" in out and "grpcio" in out  # what to run for Nuke's own Python

    lines = start_nuke(home)
    assert lines[0] == "VividVR 50"
    for path in lines[1:]:  # the copies, not the source tree: the install works once the repo moves
        assert path.startswith(str(home / ".nuke" / "vividvr")), path
    init = (home / ".nuke" / "init.py").read_text()
    assert init.startswith(USER_INIT)


def test_reinstalling_keeps_one_block_and_uninstall_removes_only_ours(home: Path, capsys) -> None:
    assert main(["plugins", "install", "nuke"]) == 0
    packages = home / ".nuke" / "vividvr" / "lib" / "grpc_stand_in"
    packages.mkdir()  # what pip put there for Nuke's Python survives a reinstall
    assert main(["plugins", "install", "nuke"]) == 0
    assert packages.is_dir()
    assert (home / ".nuke" / "init.py").read_text().count("vividvr plugins install nuke") == 1

    assert main(["plugins", "uninstall", "nuke"]) == 0
    assert (home / ".nuke" / "init.py").read_text() == USER_INIT
    assert not (home / ".nuke" / "vividvr").exists()
    capsys.readouterr()
    assert main(["plugins", "uninstall", "nuke"]) == 0
    assert "nothing of the nuke plugin was installed" in capsys.readouterr().out


def test_naming_nukes_python_checks_it_for_the_client_packages(home: Path, capsys) -> None:
    assert main(["plugins", "install", "nuke", "--python", sys.executable]) == 0
    assert f"{sys.executable} already has the client's packages" in capsys.readouterr().out
