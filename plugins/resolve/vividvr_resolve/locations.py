"""Where things live per OS: Resolve's per-user Scripts folder and VividVR's own per-user folder.

Pure functions of (system, home, environment) so the installer and the settings file can be tested
for every OS from one machine. `system` is `platform.system()`: "Darwin", "Windows" or "Linux".
Scripts folders are the per-user ones from hosts.md (Blackmagic's scripting README).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from pathlib import Path

SCRIPT_PAGES = ("Edit", "Utility")  # menu script folders: Edit page, and every page
TOOL_FOLDER = "Tool"  # Fusion page node context menu


def resolve_scripts_dir(system: str, home: Path, env: Mapping[str, str]) -> Path:
    """Resolve's per-user `Fusion/Scripts` folder (its subfolders are the Workspace > Scripts menus)."""
    if system == "Darwin":
        return home / "Library" / "Application Support" / "Blackmagic Design" / "DaVinci Resolve" / "Fusion" / "Scripts"
    if system == "Windows":
        appdata = Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
        return appdata / "Blackmagic Design" / "DaVinci Resolve" / "Support" / "Fusion" / "Scripts"
    if system == "Linux":
        return home / ".local" / "share" / "DaVinciResolve" / "Fusion" / "Scripts"
    raise ValueError(f"DaVinci Resolve does not run on {system!r} (Darwin, Windows or Linux)")


def vividvr_user_dir(system: str, home: Path, env: Mapping[str, str]) -> Path:
    """VividVR's per-user folder: the plugin's libraries and saved settings live here."""
    if system == "Darwin":
        return home / "Library" / "Application Support" / "VividVR"
    if system == "Windows":
        appdata = Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
        return appdata / "VividVR"
    data = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else home / ".local" / "share"
    return data / "vividvr"


def current_user_dir() -> Path:
    return vividvr_user_dir(platform.system(), Path.home(), os.environ)
