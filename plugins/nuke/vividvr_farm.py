"""`nuke -t vividvr_farm.py SCRIPT.nk NODE [--daemon HOST:PORT] [--force] [--no-save]`.

Restores one VividVR node of a saved script and waits (see vividvr_nuke.farm). Works whether or
not this folder is installed on the plugin path: it puts itself there first.
"""

import os
import sys

import nuke

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
if HERE not in nuke.pluginPath():
    nuke.pluginAddPath(HERE)

from vividvr_nuke import farm  # noqa: E402  (needs the folder on sys.path)

sys.exit(farm.main(sys.argv[1:]))
