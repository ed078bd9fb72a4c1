"""The conformance runner passes on the shared vectors and fails on a tampered case."""

from __future__ import annotations

import io
import json
import shutil

from safetensors.torch import load_file, save_file

from vividvr_engine.conformance import main, run_folder


def test_shared_vectors_pass(reference_vectors, reference_checkpoints, capsys):
    assert main([str(reference_vectors), "--checkpoints", str(reference_checkpoints)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 40
    assert all(line.split()[1] == "PASS" for line in lines)
    names = {line.split()[0] for line in lines}
    assert {"forward.noise_pred", "long.output", "window.output", "scheduler.rgs0.5_prev_sample_1"} <= names


def test_a_tampered_case_fails(tmp_path, reference_vectors, reference_checkpoints):
    for suffix in (".json", ".safetensors"):
        shutil.copy(reference_vectors / f"scheduler{suffix}", tmp_path / f"scheduler{suffix}")
    tensors = load_file(tmp_path / "scheduler.safetensors")
    tensors["rgs2.0_prev_sample_1"] = tensors["rgs2.0_prev_sample_1"] + 1e-3
    save_file(tensors, tmp_path / "scheduler.safetensors")
    out = io.StringIO()
    assert not run_folder(tmp_path, reference_checkpoints, out)
    assert "scheduler.rgs2.0_prev_sample_1 FAIL" in out.getvalue()


def test_an_unknown_kind_fails(tmp_path, reference_checkpoints):
    (tmp_path / "odd.json").write_text(json.dumps({"kind": "teleport"}))
    out = io.StringIO()
    assert not run_folder(tmp_path, reference_checkpoints, out)
    assert "odd FAIL unknown kind" in out.getvalue()
