"""Collect Vivid-VR restores: DaVinci Resolve, Workspace > Scripts > Edit (or Utility).

Brings back every finished job that "Restore with Vivid-VR" queued in this project: imports the
restored media into the "VividVR Restored" bin and places it where the queued clip was.
Pipeline tools and tests call `main(resolve=...)` without the menu.
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


def main(resolve=None, **host):
    """Collect finished queued jobs; `host` may carry settings_path and out (see entry.collect_main)."""
    _use_library()
    from vividvr_resolve import entry

    return entry.collect_main(resolve, namespace=globals(), **host)


if __name__ == "__main__" or "resolve" in globals():
    main()
