"""A reel as an Open Job Description job bundle: `template.yaml` + `parameter_values.yaml`.

Step `Restore` has one task per planned range (the task parameters Media, Frames, Output and
State are associated, so task k restores range k). Each task runs `vividvr farm task`, which runs
`vividvr restore` for its range with a state folder beside its output and turns its progress
into OpenJD's `openjd_progress` / `openjd_status` / `openjd_fail` lines. A requeued or preempted
task resumes from its last finished step; a finished one finds its published output and returns
at once. Step `Conform` depends on `Restore` and runs `vividvr reel conform`.

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
    python: str = sys.executable


def _task_command(inputs: BundleInputs) -> dict:
    args = ["-m", "vividvr_cli.main", "farm", "task", "{{Task.Param.Media}}", "--output", "{{Task.Param.Output}}",
            "--frames", "{{Task.Param.Frames}}", "--state-dir", "{{Task.Param.State}}", *inputs.restore_flags]
    return {"actions": {"onRun": {"command": "{{Param.Python}}", "args": args}}}


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
