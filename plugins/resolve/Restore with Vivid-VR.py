"""Restore with Vivid-VR: DaVinci Resolve, Workspace > Scripts > Edit (or Utility).

Restores the selected timeline clips (else the clip under the playhead, else the selected media
pool clips) through the VividVR daemon and puts each result back on the timeline at the same
record frame. Pipeline tools and tests call `main(resolve=...)` without the menu.
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
    """Run the restore; `host` may carry bmd, fusion, settings_path, interactive, out (see entry.restore_main)."""
    _use_library()
    from vividvr_resolve import entry

    return entry.restore_main(resolve, namespace=globals(), **host)


if __name__ == "__main__" or "resolve" in globals():
    main()
