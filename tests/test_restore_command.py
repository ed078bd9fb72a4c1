"""`vividvr restore`: flags, exit codes (0 ok, 2 bad input, 1 failure), JSON progress, summary."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import pytest
from media_patterns import movie_frames, movie_timecode, read_index, write_movie

from vividvr_cli.main import main

PREVIEW = ["--engine", "preview", "--upscale", "1", "--window-frames", "9"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "plate.mov"
    return write_movie(path, "prores_ks", Fraction(24000, 1001), 30, pix_fmt="yuv422p10le", timecode="01:00:00:00")


def test_frames_flag_restores_that_range_and_prints_a_summary(source, tmp_path, capsys):
    out = tmp_path / "out.mov"
    assert main(["restore", str(source), "--output", str(out), "--frames", "3-12", *PREVIEW]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("restored 10 frames (3-12, timecode 01:00:00:03) at 64x48 in ")
    assert line.endswith(f"-> {out}")
    assert [read_index(f) for f in movie_frames(out)] == list(range(3, 13))


def test_in_out_timecodes_select_source_frames_inclusive(source, tmp_path, capsys):
    pattern = tmp_path / "seq" / "shot.%04d.png"
    args = ["restore", str(source), "-o", str(pattern), "--in", "01:00:00:20", "--out", "01:00:00:23", *PREVIEW]
    assert main(args) == 0
    assert sorted(p.name for p in pattern.parent.iterdir()) == [f"shot.{n:04d}.png" for n in range(20, 24)]


def test_json_progress_lines_end_with_a_done_record(source, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    args = ["restore", str(source), "-o", str(out), "--format", "h264", "--upscale", "2", "--json",
            "--engine", "preview", "--window-frames", "9", "--bit-depth", "10"]
    assert main(args) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    progress = [r for r in records if r["event"] == "progress"]
    assert len(progress) >= 3 and progress[-1]["frames_done"] == 30 and progress[-1]["fraction"] == 1.0
    assert records[-1] | {"seconds": 0} == {
        "event": "done", "frames": 30, "first": 0, "last": 29, "timecode": "01:00:00:00", "width": 128,
        "height": 96, "seconds": 0, "output": str(out), "files": 1,
    }
    assert movie_timecode(out) == "01:00:00:00"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--frames", "20-40"], "frames 20-40 are outside the media's frames 0-29"),
        (["--frames", "twelve"], "frame range 'twelve' is not FIRST-LAST"),
        (["--in", "01:00:00:05"], "--in and --out go together"),
        (["--window-frames", "10"], "num_temporal_process_frames must be 8k+1"),
        (["--format", "exr"], "writes an image sequence"),
    ],
)
def test_bad_input_exits_2_with_one_line(source, tmp_path, capsys, extra, message):
    args = ["restore", str(source), "-o", str(tmp_path / "o.mov"), "--engine", "preview", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o.mov").exists()


def test_missing_input_and_existing_output_exit_2(source, tmp_path, capsys):
    assert main(["restore", str(tmp_path / "gone.mov"), "-o", str(tmp_path / "o.mov"), *PREVIEW]) == 2
    assert f"{tmp_path / 'gone.mov'}: file not found" in capsys.readouterr().err
    (tmp_path / "o.mov").write_bytes(b"x")
    assert main(["restore", str(source), "-o", str(tmp_path / "o.mov"), *PREVIEW]) == 2
    assert "output exists (use --overwrite)" in capsys.readouterr().err
    assert main(["restore", str(source), "-o", str(tmp_path / "o.mov"), "--overwrite", *PREVIEW]) == 0


def test_missing_weights_point_to_the_preview_engine_and_exit_2(source, tmp_path, capsys):
    args = ["restore", str(source), "-o", str(tmp_path / "o.mov"), "--checkpoints", str(tmp_path / "none")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--engine preview" in err and "Checkpoints" in err
    assert not (tmp_path / "o.mov").exists()
    # bad input is reported before any model is looked for
    assert main(["restore", str(tmp_path / "gone.mov"), "-o", str(tmp_path / "o.mov")]) == 2
    assert "gone.mov: file not found" in capsys.readouterr().err


def test_console_command_exit_code_and_json_error(source, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "vividvr_cli.main", "restore", str(source), "-o", str(tmp_path / "o.mov"),
         "--frames", "5-99", "--json", *PREVIEW],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["event"] == "error" and record["exit_code"] == 2 and "5-99" in record["message"]
