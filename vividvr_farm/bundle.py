"""A reel as an Open Job Description job bundle: `template.yaml` + `parameter_values.yaml`.

Step `Restore` has one task per planned range (the task parameters Media, Frames, Output and
State are associated, so task k restores range k). Each task runs `vividvr farm task`, which runs
`vividvr restore` for its range with a state folder beside its output and turns its progress
into OpenJD's `openjd_progress` / `openjd_status` / `openjd_fail` lines. A requeued or preempted
task resumes from its last finished step; a finished one finds its published output and returns
at once. Step `Conform` depends on `Restore` and runs `vividvr reel conform`.

With a worker daemon (`--worker-daemon`), a step environment starts `vividvr daemon` when a
worker's session enters the step and stops it when the session ends, and every task of that
session restores through it, so the weights load once per session rather than once per task.
The daemon keeps its resumable state in the session's working folder: a task preempted with its
worker restarts its range elsewhere (a finished range is still never redone).

The template is validated with `openjd-model` before anything is written, and the same bundle is
what `deadline bundle submit DIR` sends to AWS Deadline Cloud.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from openjd.model import DecodeValidationError, decode_job_template

from vividvr_editorial import layout
from vividvr_editorial.errors import EditorialError
from vividvr_editorial.planning import ReelPlan

SPECIFICATION = "jobtemplate-2023-09"
MIB = 1024**2


@dataclass(frozen=True)
class BundleInputs:
    name: str
    plan: ReelPlan
    outputs: dict[str, str]  # range name -> restored media path
    output_dir: Path
    restore_flags: list[str]  # `vividvr restore` engine and format flags, passed to every task
    conform_args: list[str]  # `vividvr reel conform` arguments (timeline, output dir, reel flags)
    gpu_memory_bytes: int | None  # None: the engine runs without a GPU
    daemon_args: list[str] | None = None  # `vividvr farm daemon-enter` arguments; None: tasks restore in process
    python: str = sys.executable


def _task_command(inputs: BundleInputs) -> dict:
    args = ["-m", "vividvr_cli.main", "farm", "task", "{{Task.Param.Media}}", "--output", "{{Task.Param.Output}}",
            "--frames", "{{Task.Param.Frames}}", "--state-dir", "{{Task.Param.State}}", *inputs.restore_flags]
    return {"actions": {"onRun": {"command": "{{Param.Python}}", "args": args}}}


def daemon_environment(daemon_args: list[str]) -> dict:
    """Start a VividVR daemon when the session enters the step and stop it on exit: the models load
    once per worker session, not once per task. The tasks find it through $VIVIDVR_DAEMON."""
    data_dir = "{{Session.WorkingDirectory}}/vividvr-daemon"
    cli = ["-m", "vividvr_cli.main"]
    return {
        "name": "VividVRDaemon",
        "script": {"actions": {
            "onEnter": {"command": "{{Param.Python}}",
                        "args": [*cli, "farm", "daemon-enter", "--data-dir", data_dir, *daemon_args]},
            "onExit": {"command": "{{Param.Python}}", "args": [*cli, "daemon", "stop", "--data-dir", data_dir]},
        }},
    }


def template(inputs: BundleInputs) -> dict:
    """The job template as a plain dict (validated separately)."""
    ranges = inputs.plan.ranges
    if not ranges:
        raise EditorialError("the plan has no range to restore; nothing to send to the farm (see --dry-run)")
    restore: dict = {
        "name": "Restore",
        "parameterSpace": {
            "taskParameterDefinitions": [
                {"name": "Media", "type": "PATH", "range": [r.media for r in ranges]},
                {"name": "Frames", "type": "STRING", "range": [str(r.frames) for r in ranges]},
                {"name": "Output", "type": "PATH", "range": [inputs.outputs[r.name] for r in ranges]},
                {"name": "State", "type": "PATH",
                 "range": [str(layout.state_dir(inputs.output_dir, r)) for r in ranges]},
            ],
            "combination": "(Media, Frames, Output, State)",
        },
        "script": _task_command(inputs),
    }
    if inputs.daemon_args is not None:
        restore["stepEnvironments"] = [daemon_environment(inputs.daemon_args)]
    if inputs.gpu_memory_bytes is not None:
        restore["hostRequirements"] = {"amounts": [
            {"name": "amount.worker.gpu", "min": 1},
            {"name": "amount.worker.gpu.memory", "min": -(-inputs.gpu_memory_bytes // MIB)},
        ]}
    conform = {
        "name": "Conform",
        "dependencies": [{"dependsOn": "Restore"}],
        "script": {"actions": {"onRun": {"command": "{{Param.Python}}",
                                         "args": ["-m", "vividvr_cli.main", "reel", "conform", *inputs.conform_args]}}},
    }
    return {
        "specificationVersion": SPECIFICATION,
        "name": f"VividVR reel {inputs.name}",
        "description": f"Restore {len(ranges)} ranges ({inputs.plan.restored_frames} frames) and conform the timeline",
        "parameterDefinitions": [
            {"name": "Python", "type": "STRING", "default": inputs.python,
             "description": "the Python interpreter with vividvr installed, on the workers"},
        ],
        "steps": [restore, conform],
    }


def validate(document: dict) -> None:
    """openjd-model's own validation; EditorialError with its message when the template is invalid."""
    try:
        decode_job_template(template=document)
    except DecodeValidationError as exc:
        raise EditorialError(f"the generated job template is not valid OpenJD: {exc}") from None


def write_bundle(inputs: BundleInputs, bundle_dir: Path) -> Path:
    """Write the bundle into the new folder `bundle_dir`; never into an existing one."""
    document = template(inputs)
    validate(document)
    if bundle_dir.exists():
        raise EditorialError(f"--bundle {bundle_dir}: already exists; choose a new folder (a bundle is never merged)")
    bundle_dir.mkdir(parents=True)
    (bundle_dir / "template.yaml").write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
    values = {"parameterValues": [{"name": "Python", "value": inputs.python}]}
    (bundle_dir / "parameter_values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    return bundle_dir / "template.yaml"


def local_run_command(bundle_dir: Path, openjd: str = "openjd") -> str:
    """One shell command that runs the whole bundle on this machine with the `openjd` CLI."""
    return shlex.join([openjd, "run", str(bundle_dir / "template.yaml"), "--step", "Conform", "--run-dependencies"])
