"""Terminal mode: restore one VividVR node of a saved script and wait, for render farms and batch.

Run by `nuke -t vividvr_farm.py SCRIPT.nk NODE` (which `vividvr nuke submit` launches). The
restored media is recorded in the node's knobs and the script saved, so a render job that
depends on this one reads the restored plate. Exit status: 0 restored (or already), 1 failed or
cancelled, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys

from vividvr_nuke import host, job

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vividvr_farm.py", description=__doc__.splitlines()[0])
    parser.add_argument("script", help="the .nk script")
    parser.add_argument("node", help="the VividVR node's name, e.g. VividVR1 or Group1.VividVR1")
    parser.add_argument(
        "--daemon", metavar="HOST:PORT", help="daemon address (default: the node's, else $VIVIDVR_DAEMON)"
    )
    parser.add_argument("--force", action="store_true", help="restore again even if the node already has a result")
    parser.add_argument("--no-save", action="store_true", help="leave the script file unchanged")
    args = parser.parse_args(argv)
    host.open_script(args.script)
    node = host.to_node(args.node)
    if node is None or host.node_class(node) != host.NODE_CLASS:
        found = "no such node" if node is None else f"a {host.node_class(node)} node"
        _say(f"{args.script}: {args.node} is {found}; name a {host.NODE_CLASS} node")
        return EXIT_USAGE
    before = host.value(node, "result_file")
    ok = job.restore_and_wait(node, _say, force=args.force, address=args.daemon)
    if ok and host.value(node, "result_file") != before and not args.no_save:
        host.save_script(args.script)
        _say(f"{args.script}: saved; {args.node} reads {host.value(node, 'result_file')}")
    return EXIT_OK if ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
