"""`vividvr doctor [--json]`: what this machine has for a restore, and what blocks one, with the command that fixes it.

It reports torch (build, CUDA), each GPU's free memory, the checkpoints (present and whole, their
weight data the published size), the daemon (reachable, version, devices, queue), each host plugin
(installed, its version against this one, whether the host's Python imports the client) and the free
disk where restores are written. Exit 0 when nothing blocks a restore with `--engine`, else 1.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vividvr_engine import __version__

GIB = 2**30
DISK_BLOCKING_BYTES = 1 * GIB  # not even one segment and its resume state fits
DISK_WARNING_BYTES = 20 * GIB
ENGINE_PARTS = {"vividvr": ["vividvr"], "realesrgan": ["realesrgan"], "preview": []}


@dataclass
class Issue:
    what: str
    fix: str
    blocking: bool


def torch_report() -> dict[str, Any]:
    import torch

    return {"version": torch.__version__, "cuda_build": torch.version.cuda, "cuda_available": torch.cuda.is_available()}


def devices_report() -> list[dict[str, Any]]:
    """Every CUDA device with its free memory; the CPU (with the host's free memory) when there is none."""
    import psutil
    import torch

    devices = []
    for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        free, total = torch.cuda.mem_get_info(index)
        name = torch.cuda.get_device_properties(index).name
        devices.append({"name": f"cuda:{index}", "description": name, "memory_free_bytes": free,
                        "memory_total_bytes": total})
    if not devices:
        memory = psutil.virtual_memory()
        devices.append({"name": "cpu", "description": "no CUDA device", "memory_free_bytes": memory.available,
                        "memory_total_bytes": memory.total})
    return devices


def checkpoints_report(root: Path, engine: str, issues: list[Issue]) -> dict[str, Any]:
    """Each part: present and whole (quick check) and, for weight data, the published size."""
    from vividvr_engine.checkpoint_verify import check, under
    from vividvr_engine.published import PARTS

    parts = {}
    for part in PARTS:
        problems = [f.line() for f in check([part], under(root), sizes=True) if not f.note]
        parts[part] = {"ok": not problems, "problems": problems}
        if problems:
            needed = part in ENGINE_PARTS[engine]
            fix = f"vividvr models download --what {part} --checkpoints {root}"
            what = f"checkpoints for {part} under {root}: {problems[0]}" + (
                f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            issues.append(Issue(what, fix, blocking=needed))
    return {"root": str(root), "parts": parts}


def daemon_report(address: str, token_file: Path | None, issues: list[Issue]) -> dict[str, Any]:
    from vividvr_client.client import DaemonClient, DaemonError

    token = token_file.read_text().strip() if token_file else None
    with DaemonClient(address, token=token, timeout=5.0) as client:
        try:
            status = client.status()
        except DaemonError as exc:
            issues.append(Issue(f"no daemon answers at {address} ({exc.code.name}); the host plugins and --daemon"
                                " need one", "vividvr daemon start", blocking=False))
            return {"address": address, "reachable": False, "error": str(exc)}
    if status.version != __version__:
        issues.append(Issue(f"the daemon at {address} is version {status.version}, this is {__version__}",
                            "vividvr daemon stop && vividvr daemon start", blocking=False))
    return {
        "address": address,
        "reachable": True,
        "version": status.version,
        "devices": [{"name": d.name, "description": d.description, "memory_free_bytes": d.memory_free_bytes,
                     "memory_total_bytes": d.memory_total_bytes, "running_job_id": d.running_job_id}
                    for d in status.devices],
        "jobs_queued": status.jobs_queued,
        "jobs_running": status.jobs_running,
    }


def plugins_report(issues: list[Issue]) -> dict[str, Any]:
    """Each host plugin as installed for this user: its version, and whether the host's Python imports the client."""
    from vividvr_cli.plugin_library import probe_python, read_stamp, too_old
    from vividvr_cli.plugins_command import HOSTS, current_target, installer

    target = current_target()
    report = {}
    for host in HOSTS:
        module = installer(host)
        lib = module.library_dir(target)
        stamp = read_stamp(lib)
        if stamp is None and not (lib / "vividvr_client").is_dir():
            report[host] = {"installed": False}
            continue
        version = (stamp or {}).get("version")
        entry: dict[str, Any] = {"installed": True, "library": str(lib), "version": version,
                                 "current": version == __version__}
        if version != __version__:
            issues.append(Issue(f"the {host} plugin is version {version or 'unknown'}, this is {__version__}",
                                f"vividvr plugins install {host}", blocking=False))
        default = getattr(module, "default_python", None)
        python = (stamp or {}).get("python") or (default(target) if default else None)
        entry["python"] = python
        if python is None:
            entry["client_importable"] = None
            issues.append(Issue(f"the {host} plugin's Python is unknown, so it was not checked",
                                f"vividvr plugins install {host} --python HOST_PYTHON", blocking=False))
        else:
            facts = probe_python(python, lib)
            entry["client_importable"] = bool(facts.get("client"))
            if not facts.get("client"):
                why = facts.get("error") or too_old(facts) or facts.get("client_error")
                issues.append(Issue(f"{python} (the {host} plugin's Python) cannot import the client: {why}",
                                    f"vividvr plugins install {host} --python {python} --install-packages",
                                    blocking=False))
        report[host] = entry
    return report


def output_roots() -> list[Path]:
    """Where restores are written: the daemon's configured output roots."""
    from vividvr_daemon.config import ConfigError, load_config

    try:
        return list(load_config().output_roots)
    except ConfigError:
        return [Path.home()]


def disk_report(roots: list[Path], issues: list[Issue]) -> list[dict[str, Any]]:
    report = []
    for root in roots:
        existing = next((p for p in (root, *root.parents) if p.exists()), Path(root.anchor or "/"))
        free = shutil.disk_usage(existing).free
        report.append({"path": str(root), "free_bytes": free})
        if free < DISK_WARNING_BYTES:
            issues.append(Issue(f"{root} has {free / GIB:.1f} GiB free", f"free space on the disk holding {root}",
                                blocking=free < DISK_BLOCKING_BYTES))
    return report


def diagnose(args: argparse.Namespace) -> tuple[dict[str, Any], list[Issue]]:
    from vividvr_cli.models_command import checkpoint_root

    issues: list[Issue] = []
    root = checkpoint_root(args.checkpoints)
    report: dict[str, Any] = {"version": __version__, "engine": args.engine}
    report["torch"] = torch_report()
    report["devices"] = devices_report()
    if args.engine == "vividvr" and not report["torch"]["cuda_available"]:
        issues.append(Issue("no CUDA device: the Vivid-VR engine needs an NVIDIA GPU for real clips (--engine"
                            " preview or realesrgan run on the CPU)",
                            "pip install torch --index-url https://download.pytorch.org/whl/cu128", blocking=False))
    report["checkpoints"] = checkpoints_report(root, args.engine, issues)
    report["daemon"] = daemon_report(args.daemon, args.token_file, issues)
    report["plugins"] = plugins_report(issues)
    report["disk"] = disk_report([*output_roots(), *(args.output_root or []), root], issues)
    report["blockers"] = [asdict(i) for i in issues if i.blocking]
    report["warnings"] = [asdict(i) for i in issues if not i.blocking]
    return report, issues


def print_text(report: dict[str, Any], issues: list[Issue]) -> None:
    torch_info = report["torch"]
    print(f"vividvr {report['version']}; torch {torch_info['version']} (CUDA build {torch_info['cuda_build']},"
          f" CUDA {'available' if torch_info['cuda_available'] else 'not available'})")
    for device in report["devices"]:
        print(f"device {device['name']} ({device['description']}): {device['memory_free_bytes'] / GIB:.1f} of"
              f" {device['memory_total_bytes'] / GIB:.1f} GiB free")
    checkpoints = report["checkpoints"]
    states = ", ".join(f"{p} {'ok' if v['ok'] else 'NOT READY'}" for p, v in checkpoints["parts"].items())
    print(f"checkpoints {checkpoints['root']}: {states}")
    daemon = report["daemon"]
    if daemon["reachable"]:
        devices = ", ".join(d["name"] for d in daemon["devices"])
        print(f"daemon {daemon['address']}: version {daemon['version']}, devices {devices},"
              f" {daemon['jobs_queued']} queued, {daemon['jobs_running']} running")
    else:
        print(f"daemon {daemon['address']}: not reachable")
    for host, plugin in report["plugins"].items():
        if not plugin["installed"]:
            print(f"plugin {host}: not installed (vividvr plugins install {host})")
        else:
            importable = {True: "imports the client", False: "cannot import the client", None: "not checked"}
            print(f"plugin {host}: version {plugin['version']}, {plugin['python']}"
                  f" {importable[plugin['client_importable']]}")
    for disk in report["disk"]:
        print(f"disk {disk['path']}: {disk['free_bytes'] / GIB:.1f} GiB free")
    for issue in issues:
        print(f"{'BLOCKER' if issue.blocking else 'warning'}: {issue.what}\n    fix: {issue.fix}")
    blockers = sum(i.blocking for i in issues)
    print(f"{blockers} blocker(s) for a restore with --engine {report['engine']}" if blockers
          else f"nothing blocks a restore with --engine {report['engine']}")


def register(subparsers: argparse._SubParsersAction) -> None:
    from vividvr_cli.daemon_command import _connection_flags

    parser = subparsers.add_parser("doctor", help="check this machine for a restore and say how to fix what is missing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--engine", choices=sorted(ENGINE_PARTS), default="vividvr",
                        help="the engine a restore will use (default vividvr)")
    parser.add_argument("--checkpoints", type=Path, help="the checkpoint folder (default as `vividvr restore`)")
    parser.add_argument("--output-root", type=Path, action="append", help="also check free disk here (repeatable)")
    _connection_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    report, issues = diagnose(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_text(report, issues)
    return 1 if any(i.blocking for i in issues) else 0

