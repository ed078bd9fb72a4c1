"""The dialog: choose settings, then watch "render now" progress; all drawing goes through `host.Ui`.

The form is plain data (`fields`, `read`) so the mapping between widgets and settings is tested
without Resolve. Progress follows jobs on a worker thread that only talks gRPC; everything that
touches Resolve (bringing results back) runs on the UI thread from the polling Timer.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from dataclasses import replace
from typing import Any

from vividvr_client.client import DaemonError, describe
from vividvr_resolve import workflow
from vividvr_resolve.host import Field, Form, ResolveHost, Ui
from vividvr_resolve.settings import CLIP_COLORS, OUTPUT_NAMES, PRESETS, PluginSettings, SettingsProblem

MODE_LABELS = {"render": "Render now", "queue": "Queue for overnight"}
PLACEMENT_LABELS = {"take": "As a take on the clip", "track": "On the first free track above"}
SIZE_LABELS = {"upscale": "Upscale factor", "short_side": "Target short side (px)"}
BAR_WIDTH = 30


def _key(mapping: dict[str, str], label: str) -> str:
    return next(k for k, v in mapping.items() if v == label)


def fields(settings: PluginSettings, count: int) -> list[Field]:
    """The settings form, filled with `settings`."""
    return [
        Field("Clips", "label", "", f"{count} clip(s) will be restored."),
        Field("Preset", "combo", "Preset", settings.preset, (*PRESETS, "Custom")),
        Field("Steps", "spin", "Steps (Custom)", settings.steps, maximum=1000),
        Field("Guidance", "line", "Guidance (Custom)", settings.guidance),
        Field("SizeMode", "combo", "Size", SIZE_LABELS[settings.size_mode], tuple(SIZE_LABELS.values())),
        Field("Upscale", "line", "Upscale factor", settings.upscale),
        Field("ShortSide", "spin", "Short side (px)", settings.short_side, maximum=16384),
        Field("Format", "combo", "Output format", settings.output_format, tuple(OUTPUT_NAMES)),
        Field("Folder", "line", "Output folder", settings.output_dir),
        Field("Handles", "spin", "Handles (frames)", settings.handles, maximum=1000),
        Field("Caption", "line", "Caption override", settings.caption),
        Field("Mode", "combo", "When", MODE_LABELS[settings.mode], tuple(MODE_LABELS.values())),
        Field("Placement", "combo", "Bring back", PLACEMENT_LABELS[settings.placement],
              tuple(PLACEMENT_LABELS.values())),
        Field("Color", "combo", "Clip colour", settings.clip_color, CLIP_COLORS),
        Field("Daemon", "line", "Daemon address", settings.daemon),
        Field("Status", "label", "", ""),
    ]


def _number(form: Form, field_id: str, name: str) -> float:
    try:
        return float(form.value(field_id))
    except ValueError:
        raise SettingsProblem(f"{name} must be a number, not {form.value(field_id)!r}") from None


def read(form: Form, settings: PluginSettings) -> PluginSettings:
    """The settings the form shows, checked; SettingsProblem names the first bad one."""
    return replace(
        settings,
        preset=form.value("Preset"),
        steps=form.value("Steps"),
        guidance=_number(form, "Guidance", "guidance"),
        size_mode=_key(SIZE_LABELS, form.value("SizeMode")),
        upscale=_number(form, "Upscale", "upscale factor"),
        short_side=form.value("ShortSide"),
        output_format=form.value("Format"),
        output_dir=form.value("Folder").strip(),
        handles=form.value("Handles"),
        caption=form.value("Caption"),
        mode=_key(MODE_LABELS, form.value("Mode")),
        placement=_key(PLACEMENT_LABELS, form.value("Placement")),
        clip_color=form.value("Color"),
        daemon=form.value("Daemon").strip(),
    ).check()


def ask(ui: tuple[Any, Any], settings: PluginSettings, count: int) -> PluginSettings | None:
    """Show the settings dialog; the chosen settings, or None when the artist cancels."""
    chosen: list[PluginSettings] = []

    def restore(form: Form) -> None:
        try:
            chosen.append(read(form, settings))
        except SettingsProblem as exc:
            form.set_text("Status", str(exc))
            return
        form.close()

    Ui(*ui).run("Restore with Vivid-VR", fields(settings, count), [("Restore", "Restore"), ("Cancel", "Cancel")],
                {"Restore": restore, "Cancel": lambda form: form.close()})
    return chosen[0] if chosen else None


def bar(fraction: float) -> str:
    """A progress bar drawn in text: UIManager documents no progress widget."""
    filled = round(max(0.0, min(1.0, fraction)) * BAR_WIDTH)
    return f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {fraction:4.0%}"


def run(ui: tuple[Any, Any], host: ResolveHost, settings: PluginSettings,
        picked: tuple[str, list] | None = None) -> list[workflow.Outcome]:
    """Send the clips; "render now" shows progress and brings each result back as it completes."""
    if settings.mode == "queue":
        return workflow.restore(host, settings, lambda line, fraction: None, picked)
    targets, outcomes = workflow.gather(host, settings, picked)
    client = workflow.connect(settings)
    accepted, refused = workflow.submit(client, targets, settings)
    outcomes += refused
    events: queue.Queue = queue.Queue()
    finished: set[int] = set()

    stop = threading.Event()

    def follow() -> None:  # gRPC only: Resolve is touched from the UI thread
        try:
            for number, (_, job_id) in enumerate(accepted):
                for event in client.watch(job_id):
                    events.put((number, event))
        except (DaemonError, ValueError) as exc:  # ValueError: the channel closed under us when the window did
            if not stop.is_set():
                events.put((None, exc))
        events.put((None, None))

    def poll(form: Form) -> None:
        while True:
            try:
                number, event = events.get_nowait()
            except queue.Empty:
                return
            if number is None:
                if event is not None:
                    outcomes.append(workflow.Outcome("daemon", "failed", f"lost the daemon: {event}"))
                form.close()
                return
            target, job_id = accepted[number]
            kind = event.WhichOneof("kind")
            within = event.progress.fraction if kind == "progress" else (1.0 if kind in workflow.TERMINAL else 0.0)
            form.set_text("Bar", bar((number + within) / len(accepted)))
            form.set_text("Line", f"{target.name} ({number + 1}/{len(accepted)}): {describe(event)}")
            if kind in workflow.TERMINAL:
                finished.add(number)
                outcomes.append(workflow.finish(host, target, job_id, event, settings))

    def cancel(form: Form) -> None:
        for _, job_id in accepted:
            with contextlib.suppress(DaemonError):  # already finished
                client.cancel(job_id)
        form.set_text("Line", "cancelling...")

    thread = threading.Thread(target=follow, name="vividvr-follow", daemon=True)
    thread.start()
    try:
        Ui(*ui).run("Vivid-VR: restoring", [Field("Bar", "label", "", bar(0.0)), Field("Line", "label", "", "")],
                    [("CancelJobs", "Cancel restores")], {"CancelJobs": cancel}, poll)
    finally:
        stop.set()
        client.close()
        thread.join(timeout=10)
    # The window closed before every job ended: they keep running, so record them for Collect.
    outcomes += [workflow.record_queued(host, target, job_id)
                 for number, (target, job_id) in enumerate(accepted) if number not in finished]
    return outcomes
