"""What the three menu scripts run: find Resolve, read settings, ask (or not), restore or collect, report.

Errors a person can act on (no project, nothing selected, no daemon, a bad setting) end the run
with one clear line and leave the project as it was; each clip's outcome is reported on its own
line. With a UI (Resolve's `fusion.UIManager`) and interactive settings a dialog asks first and
shows progress; otherwise saved settings are used and lines go to the console.
"""

from __future__ import annotations

import builtins
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vividvr_client.client import DaemonError, describe, make_request
from vividvr_resolve import workflow
from vividvr_resolve.editorial import restored_media
from vividvr_resolve.host import HostError, ResolveHost, find_resolve, loader_source, tool_attrs
from vividvr_resolve.settings import PluginSettings, SettingsProblem, load, save

Output = Callable[[str], None]
FRAME_FIELD = re.compile(r"[._-]?(\d+|#+|%0?\d*d)$")


@dataclass
class RunReport:
    """What a script run did: `ok` is False when the run stopped early or a clip failed."""

    ok: bool
    outcomes: list[workflow.Outcome] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _console(line: str) -> None:
    print(line, flush=True)


def _settings(settings_path: str | Path | None, interactive: bool | None) -> PluginSettings:
    settings = load(Path(settings_path) if settings_path else None)
    return settings if interactive is None else replace(settings, interactive=interactive)


def _finish(outcomes: list[workflow.Outcome], report: RunReport, out: Output) -> RunReport:
    for outcome in outcomes:
        out(outcome.message)
        report.lines.append(outcome.message)
    report.outcomes = outcomes
    report.ok = not any(o.status == "failed" for o in outcomes)
    return report


def _fail(message: str, out: Output) -> RunReport:
    line = f"Vivid-VR: {message}"
    out(line)
    return RunReport(False, [], [line])


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, DaemonError) else str(exc)


STOPS = (HostError, SettingsProblem, workflow.NothingToRestore, DaemonError)


def restore_main(resolve: Any = None, *, namespace: dict | None = None, settings_path: str | Path | None = None,
                 interactive: bool | None = None, out: Output | None = None,
                 picked: tuple[str, list] | None = None) -> RunReport:
    """"Restore with Vivid-VR": the selected clips (or `picked`) through the daemon and back onto the timeline."""
    namespace = namespace or {}
    out = out or _console
    try:
        host = ResolveHost(resolve if resolve is not None else find_resolve(namespace))
        settings = _settings(settings_path, interactive)
        ui = _ui(namespace) if settings.interactive else None
        if ui is None:
            settings.check()
            outcomes = workflow.restore(host, settings, lambda line, fraction: out(f"{fraction:4.0%} {line}"),
                                        picked)
            return _finish(outcomes, RunReport(True), out)
        from vividvr_resolve import dialog

        targets, _ = workflow.gather(host, settings, picked)  # say "nothing selected" before asking anything
        chosen = dialog.ask(ui, settings, len(targets))
        if chosen is None:
            return RunReport(True, [], ["cancelled"])
        save(chosen, Path(settings_path) if settings_path else None)
        return _finish(dialog.run(ui, host, chosen.check(), picked), RunReport(True), out)
    except STOPS as exc:
        return _fail(_message(exc), out)


def collect_main(resolve: Any = None, *, namespace: dict | None = None, settings_path: str | Path | None = None,
                 out: Output | None = None, **_: Any) -> RunReport:
    """"Collect Vivid-VR restores": bring back every finished job this project queued."""
    namespace = namespace or {}
    out = out or _console
    try:
        host = ResolveHost(resolve if resolve is not None else find_resolve(namespace))
        settings = _settings(settings_path, False)
        outcomes = workflow.collect(host, settings)
    except STOPS as exc:
        return _fail(_message(exc), out)
    if not outcomes:
        out("Vivid-VR: no queued restores in this project")
    pending = sum(o.status == "pending" for o in outcomes)
    if pending:
        out(f"Vivid-VR: {pending} job(s) not finished yet; run Collect again later")
    return _finish(outcomes, RunReport(True), out)


def tool_main(tool: Any, resolve: Any = None, *, namespace: dict | None = None,
              settings_path: str | Path | None = None, interactive: bool | None = None,
              out: Output | None = None) -> RunReport:
    """The Fusion node menu: a MediaIn is the timeline clip being composited; a Loader is a file."""
    namespace = namespace or {}
    out = out or _console
    if tool is None:
        return _fail("run this from a MediaIn or Loader node's right-click menu on the Fusion page", out)
    kind, node = tool_attrs(tool)
    if kind == "MediaIn":
        try:
            host = ResolveHost(resolve if resolve is not None else find_resolve(namespace))
            timeline = host.timeline()
            item = timeline.GetCurrentVideoItem() if timeline is not None else None
        except HostError as exc:
            return _fail(str(exc), out)
        if item is None:
            return _fail("no timeline clip is open on the Fusion page", out)
        return restore_main(resolve, namespace=namespace, settings_path=settings_path, interactive=interactive,
                            out=out, picked=("timeline", [item]))
    if kind == "Loader":
        return _restore_loader(tool, node, resolve, namespace, settings_path, out)
    return _fail(f"{node} is a {kind or 'node'}, not a MediaIn or Loader", out)


def loader_stem(path: str) -> str:
    """A Loader file's name without frame field and extension (`shot.####.exr` -> `shot`)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return FRAME_FIELD.sub("", stem) or "clip"


def _restore_loader(tool: Any, node: str, resolve: Any, namespace: dict, settings_path: str | Path | None,
                    out: Output) -> RunReport:
    """Restore the Loader's file over its trimmed frames and import the result into the bin."""
    path, frames = loader_source(tool)
    if not path:
        return _fail(f"{node} has no file", out)
    try:
        host = ResolveHost(resolve if resolve is not None else find_resolve(namespace))
        settings = _settings(settings_path, False).check()
        client = workflow.connect(settings)
        try:
            request = make_request(path, settings.output_dir, settings.name_template(loader_stem(path)),
                                   frames=frames, engine=settings.engine, settings=settings.engine_settings(),
                                   output_format=settings.output_format, label=f"Fusion: {node}")
            job_id = client.submit(request).job_id
            final = None
            for event in client.watch(job_id):
                out(describe(event))
                final = event
        finally:
            client.close()
        if final is None or final.WhichOneof("kind") != "completed":
            message = f"{node}: {describe(final) if final is not None else 'the job ended without a result'}"
            return _finish([workflow.Outcome(node, "failed", message, job_id)], RunReport(True), out)
        completed = final.completed
        mpi = host.import_restored(restored_media(completed.otio_clip_json, completed.first_frame,
                                                  completed.last_frame))
        host.tag_media(mpi, settings.clip_color, job_id, settings.engine_settings())
    except STOPS as exc:
        return _fail(_message(exc), out)
    outcome = workflow.Outcome(node, "restored", f"{node}: restored {path} into the VividVR Restored bin", job_id)
    return _finish([outcome], RunReport(True), out)


def _ui(namespace: dict) -> Any:
    """(UIManager, dispatcher) when running inside Resolve with a UI, else None."""
    fusion = namespace.get("fusion") or namespace.get("fu") or getattr(builtins, "fusion", None)
    bmd = namespace.get("bmd") or getattr(builtins, "bmd", None)
    if fusion is None or bmd is None:
        return None
    manager = fusion.UIManager
    return (manager, bmd.UIDispatcher(manager)) if manager is not None else None
