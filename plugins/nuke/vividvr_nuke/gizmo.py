"""The gizmo's Engine knobs, generated from `vividvr_client.settings_spec`, and how their values read back.

`VividVR.gizmo` is a static file (scripts store only knob values, so the knobs must exist before a
script loads); its Engine tab is this module's output, and a test keeps the two equal. Rewrite it
after changing the spec with `python plugins/nuke/vividvr_nuke/gizmo.py`.

The .gizmo knob type codes are not in Foundry's guide: they are read back at run time, since
Nuke reports each knob's class (`Knob.Class()`), and a gizmo whose knobs came out otherwise is
refused (`settings_problems`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vividvr_client.settings_spec import SETTINGS, Setting, number_text

TAB = " addUserKnob {20 engine_settings l Engine}\n"
AFTER = " addUserKnob {1 result_file +HIDDEN}\n"  # the first knob after the Engine tab
GIZMO = Path(__file__).resolve().parents[1] / "VividVR.gizmo"
# (code in a .gizmo, the class Nuke makes of it) per setting kind; choices make an Enumeration
KNOB_TYPES = {int: (3, "Int_Knob"), float: (7, "Double_Knob"), bool: (6, "Boolean_Knob"), str: (1, "String_Knob")}
ENUMERATION = (4, "Enumeration_Knob")


def knob_type(setting: Setting) -> tuple[int, str]:
    return ENUMERATION if setting.choices else KNOB_TYPES[setting.kind]


def _quote(text: str) -> str:
    return '"' + re.sub(r'([\\"\[\]$])', r"\\\1", text) + '"'


def _tooltip(setting: Setting) -> str:
    bounds = f" ({setting.bounds()})" if setting.bounds() else ""
    empty = f"; {'0' if setting.kind is int else 'empty'}: {setting.unset}" if setting.unset else ""
    return f"{setting.help}{bounds}{empty}"


def knob_lines(setting: Setting) -> str:
    """The addUserKnob line of one setting, and its default when Nuke's own default differs."""
    code, _ = knob_type(setting)
    options = f"l {_quote(setting.words)} t {_quote(_tooltip(setting))}"
    nuke_default: Any = 0
    if setting.choices:
        options += " M {" + " ".join(setting.choices) + "}"
        nuke_default = setting.choices[0]
    elif setting.kind is float:
        low = setting.minimum if setting.minimum is not None else min(setting.default, 0)
        options += f" R {number_text(low)} {number_text(setting.maximum if setting.maximum is not None else 100)}"
    elif setting.kind is bool:
        options += " +STARTLINE"
        nuke_default = False
    elif setting.kind is str:
        nuke_default = ""
    line = f" addUserKnob {{{code} {setting.name} {options}}}\n"
    default = setting.default
    if default is None or default == nuke_default:
        return line
    if setting.kind is bool:
        return line + f" {setting.name} true\n"
    shown = number_text(default) if setting.kind in (int, float) else default
    return line + f" {setting.name} {shown}\n"


def engine_tab() -> str:
    return TAB + "".join(knob_lines(setting) for setting in SETTINGS)


def with_engine_tab(gizmo: str) -> str:
    """The gizmo text with its Engine tab replaced by the generated one."""
    start, end = gizmo.index(TAB), gizmo.index(AFTER)
    return gizmo[:start] + engine_tab() + gizmo[end:]


def settings_problems(classes: dict[str, str | None], values: dict[str, Any]) -> list[str]:
    """Why the node's Engine knobs cannot be sent: a knob Nuke made of another class, or a value out of range.

    `classes` maps setting name -> the knob class Nuke reports (None: no such knob);
    `values` maps setting name -> the setting value read from the knob.
    """
    found = []
    for setting in SETTINGS:
        wanted = knob_type(setting)[1]
        if classes.get(setting.name) != wanted:
            found.append(
                f"knob {setting.name} is {classes.get(setting.name) or 'missing'}, not {wanted}: the VividVR.gizmo"
                " on the plugin path does not match this plugin; reinstall with `vividvr plugins install nuke`"
            )
        elif (problem := setting.problem(values.get(setting.name))) is not None:
            found.append(problem)
    return found


if __name__ == "__main__":
    GIZMO.write_text(with_engine_tab(GIZMO.read_text()))
    print(f"wrote {GIZMO}")
