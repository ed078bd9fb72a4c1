"""The conformance runner passes on the shared vectors and fails on every kind of doctored case."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from vividvr_engine.conformance import main, run_folder


def test_shared_vectors_pass(reference_vectors, reference_checkpoints, capsys):
    args = [str(reference_vectors), "--checkpoints", str(reference_checkpoints), "--expect", "forward,long,window"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 40
    assert all(line.split()[1] == "PASS" for line in lines)
    names = {line.split()[0] for line in lines}
    assert {"forward.noise_pred", "long.output", "window.output", "scheduler.rgs0.5_prev_sample_1"} <= names
    assert {"long.gen_height", "long.output_shape", "long.windows[2].ori_width", "forward.input_ids"} <= names


def copy_case(vectors: Path, folder: Path, name: str) -> Path:
    folder.mkdir(exist_ok=True)
    for suffix in (".json", ".safetensors"):
        shutil.copy(vectors / f"{name}{suffix}", folder / f"{name}{suffix}")
    return folder / name


def doctor(case: Path, tensors=None, meta=None) -> None:  # type: ignore[no-untyped-def]
    """Apply `tensors(dict)` / `meta(dict)` edits to a copied case in place."""
    if tensors is not None:
        values = load_file(case.with_suffix(".safetensors"))
        tensors(values)
        save_file(values, case.with_suffix(".safetensors"))
    if meta is not None:
        values = json.loads(case.with_suffix(".json").read_text())
        meta(values)
        case.with_suffix(".json").write_text(json.dumps(values))


def run(folder: Path, checkpoints: Path, expect=()) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    passed = run_folder(folder, checkpoints, out, expect=expect)
    return passed, out.getvalue()


def failed_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " FAIL" in line]


def test_a_tampered_tensor_fails(tmp_path, reference_vectors, reference_checkpoints):
    case = copy_case(reference_vectors, tmp_path, "scheduler")
    doctor(case, tensors=lambda t: t.update({"rgs2.0_prev_sample_1": t["rgs2.0_prev_sample_1"] + 1e-3}))
    passed, output = run(tmp_path, reference_checkpoints)
    assert not passed and "scheduler.rgs2.0_prev_sample_1 FAIL" in output


def test_recorded_scheduler_runs_and_steps_that_are_not_run_fail(tmp_path, reference_vectors, reference_checkpoints):
    case = copy_case(reference_vectors, tmp_path, "scheduler")

    def add_extra(t):  # type: ignore[no-untyped-def]
        t["rgs3.0_prev_sample_0"] = t["rgs2.0_prev_sample_0"].clone()  # a run the JSON does not list
        t["rgs0.5_prev_sample_2"] = t["rgs0.5_prev_sample_1"].clone()  # a step beyond step_indices

    doctor(case, tensors=add_extra)
    passed, output = run(tmp_path, reference_checkpoints)
    assert not passed
    assert [line.split()[0] for line in failed_lines(output)] == [
        "scheduler.rgs0.5_prev_sample_2[recorded,",
        "scheduler.rgs3.0_prev_sample_0[recorded,",
    ]


def test_an_extra_controlnet_block_and_reordered_token_rows_fail(tmp_path, reference_vectors, reference_checkpoints):
    case = copy_case(reference_vectors, tmp_path, "forward")

    def doctored(t):  # type: ignore[no-untyped-def]
        t["controlnet_block_2"] = t["controlnet_block_1"].clone()  # the tiny controlnet has 2 blocks
        t["input_ids"] = t["input_ids"].flip(0).contiguous()  # positive row first

    doctor(case, tensors=doctored)
    passed, output = run(tmp_path, reference_checkpoints)
    failed = failed_lines(output)
    assert not passed and len(failed) == 2
    assert failed[0].startswith("forward.input_ids[")
    assert failed[1].startswith("forward.controlnet_block_2[recorded, not compared] FAIL")


def test_orphan_files_fail_and_are_named(tmp_path, reference_vectors, reference_checkpoints):
    copy_case(reference_vectors, tmp_path, "scheduler")
    shutil.copy(reference_vectors / "scheduler.safetensors", tmp_path / "lonely.safetensors")
    (tmp_path / "alone.json").write_text(json.dumps({"kind": "scheduler"}))
    passed, output = run(tmp_path, reference_checkpoints)
    assert not passed
    assert "alone FAIL orphan alone.json: no alone.safetensors" in output
    assert "lonely FAIL orphan lonely.safetensors: no lonely.json" in output
    assert "scheduler.rgs2.0_prev_sample_1 PASS" in output  # the complete case still ran


def test_a_missing_expected_case_fails(tmp_path, reference_vectors, reference_checkpoints, capsys):
    copy_case(reference_vectors, tmp_path, "scheduler")
    assert run(tmp_path, reference_checkpoints, expect=["scheduler"])[0]
    passed, output = run(tmp_path, reference_checkpoints, expect=["scheduler", "long"])
    assert not passed and "long FAIL expected case missing" in output
    assert main([str(tmp_path), "--checkpoints", str(reference_checkpoints), "--expect", "long,scheduler"]) == 1


def test_windows_come_from_the_tensor_keys_and_planned_geometry_must_match(
    tmp_path, reference_vectors, reference_checkpoints
):
    case = copy_case(reference_vectors, tmp_path, "window")

    def without_window_count(m):  # type: ignore[no-untyped-def]
        del m["num_windows"]  # windows must be found from the windowN. keys
        m["gen_height"] = 72
        m["output_shape"] = [9, 3, 64, 97]
        m["windows"][0]["ori_width"] = 97

    doctor(case, tensors=lambda t: t.update({"window1.final_latents": t["window0.final_latents"].clone()}),
           meta=without_window_count)
    passed, output = run(tmp_path, reference_checkpoints)
    failed = [line.split(" FAIL")[0] for line in failed_lines(output)]
    assert not passed
    assert failed == [
        "window.output_shape[[9, 3, 64, 96] != recorded [9, 3, 64, 97]]",
        "window.gen_height[64 != recorded 72]",
        "window.windows[0].ori_width[96 != recorded 97]",
        "window.windows[recorded [0, 1], planned [0]]",
        "window.window1.final_latents[not produced]",
        "window.window1.final_latents[recorded, not compared]",
    ]
    assert "window.output PASS" in output  # the engine itself is still right


def test_an_unknown_kind_fails(tmp_path, reference_vectors, reference_checkpoints):
    shutil.copy(reference_vectors / "scheduler.safetensors", tmp_path / "odd.safetensors")
    (tmp_path / "odd.json").write_text(json.dumps({"kind": "teleport"}))
    passed, output = run(tmp_path, reference_checkpoints)
    assert not passed and "odd[unknown kind 'teleport'] FAIL" in output


def test_batched_tile_evaluations_stay_within_the_reference_tolerances(tmp_path, reference_vectors,
                                                                     reference_checkpoints):
    from vividvr_engine.conformance import restore_settings
    from vividvr_engine.pipeline import ClipInfo, plan_step_batches

    for name in ("long", "window"):
        copy_case(reference_vectors, tmp_path, name)
        meta = json.loads((tmp_path / f"{name}.json").read_text())
        frames, _channels, height, width = load_file(tmp_path / f"{name}.safetensors")["input"].shape
        batches = plan_step_batches(ClipInfo(frames, height, width, meta["fps"]), restore_settings(meta), 8)
        assert max(len(batch) for batch in batches) > 1, name  # the case really batches

    out = io.StringIO()
    passed = run_folder(tmp_path, reference_checkpoints, out, batch_tiles=8)

    assert passed, failed_lines(out.getvalue())
    assert {"long.output", "window.output", "long.window0.final_latents"} <= {
        line.split()[0] for line in out.getvalue().splitlines()
    }
