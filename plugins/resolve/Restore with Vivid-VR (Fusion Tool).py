"""Restore with Vivid-VR: Fusion page, right-click a MediaIn or Loader node > Scripts.

Fusion runs Tool scripts with `tool`, `comp` and `fusion` set. A MediaIn node stands for the
timeline clip being composited, so it is restored and put back like the Edit page script does; a
Loader's file is restored over its frame range and the result imported into the bin.
Tests call `main(tool=..., resolve=...)` without the menu.
"""

import os
import sys

VIVIDVR_LIB = None  # written by `vividvr plugins install resolve`


def _use_library():
    """Make `vividvr_resolve` importable: the installed library folder, else the folder of this file."""
    here = os.path.dirname(os.path.abspath(globals().get("__file__") or os.curdir))
    for folder in (VIVIDVR_LIB, here):
        if folder and os.path.isdir(os.path.join(folder, "vividvr_resolve")):
            if folder not in sys.path:
                sys.path.insert(0, folder)
            return


def main(tool=None, resolve=None, **host):
    """Restore the node's clip; `host` may carry settings_path, interactive and out (see entry.tool_main)."""
    _use_library()
    from vividvr_resolve import entry

    return entry.tool_main(tool if tool is not None else globals().get("tool"), resolve, namespace=globals(), **host)


if __name__ == "__main__" or "tool" in globals():
    main()
