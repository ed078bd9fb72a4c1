"""Stands in for the `nuke` executable's terminal mode: `nuke_terminal.py -t SCRIPT.py ARGS...`.

Like `nuke -t`, it starts without a GUI (init.py of ~/.nuke, $NUKE_PATH and the folders they add
runs, menu.py does not), then runs SCRIPT.py as __main__ with ARGS in sys.argv.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nuke

if len(sys.argv) < 3 or sys.argv[1] != "-t":
    sys.exit("usage: nuke_terminal.py -t SCRIPT.py [ARGS...]")
nuke.fake_startup(gui=False, home=Path.home())
script = sys.argv[2]
sys.argv = [script, *sys.argv[3:]]
runpy.run_path(script, run_name="__main__")
