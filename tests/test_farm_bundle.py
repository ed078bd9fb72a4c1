"""`vividvr farm bundle`: an Open Job Description bundle that restores a reel exactly as `reel restore` does."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import opentimelineio as otio
import pytest
import yaml
from media_patterns import movie_frames
from openjd.model import decode_job_template
from published_checkpoints import write_published_tree
from reel_support import edit_timeline, make_sources
from test_reel_scenes import scene_clip

from vividvr_cli.main import main
from vividvr_farm.progress import openjd_lines

PREVIEW = ["--engine", "preview", "--upscale", "1"]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_sources(tmp_path_factory.mktemp("media"))


@pytest.fixture
def edit(tmp_path, sources) -> Path:
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(edit_timeline(sources), str(path))
    return path


def bundle(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(["farm", "bundle", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_gpu_bundle_without_readable_checkpoints_is_refused_naming_them(tmp_path, edit, capsys):
    code, _, err = bundle(capsys, str(edit), "--bundle", str(tmp_path / "b"), "--output-dir", str(tmp_path / "o"),
                          "--engine", "vividvr", "--checkpoints", str(tmp_path / "nowhere"))
    assert code == 2 and "--checkpoints" in err and "nowhere" in err
    assert not (tmp_path / "b").exists()


def run_locally(command: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=timeout, env=env)


def test_bundle_is_valid_openjd_with_one_restore_task_per_range_and_a_conform_step(tmp_path, edit, capsys):
    published = write_published_tree(tmp_path / "published")  # header-only files: the sizes workers load
    code, out, err = bundle(capsys, str(edit), "--bundle", str(tmp_path / "b"), "--output-dir", str(tmp_path / "o"),
                            "--engine", "vividvr", "--steps", "20", "--checkpoints", str(published))
    assert code == 0, err
    document = yaml.safe_load((tmp_path / "b" / "template.yaml").read_text())
    decode_job_template(template=document)  # raises if invalid
    assert document["specificationVersion"] == "jobtemplate-2023-09"
    restore, conform = document["steps"]
    params = {p["name"]: p["range"] for p in restore["parameterSpace"]["taskParameterDefinitions"]}
    assert params["Frames"] == ["2-8", "1-4"] and restore["parameterSpace"]["combination"].startswith("(")
    assert [p.rsplit("/", 1)[-1] for p in params["State"]] == ["alpha.2-8", "beta.1-4"]
    amounts = {a["name"]: a["min"] for a in restore["hostRequirements"]["amounts"]}
    assert amounts["amount.worker.gpu"] == 1 and amounts["amount.worker.gpu.memory"] > 20 * 1024  # MiB: the 5B model
    assert "--steps" in restore["script"]["actions"]["onRun"]["args"]
    assert conform["dependencies"] == [{"dependsOn": "Restore"}]
    values = yaml.safe_load((tmp_path / "b" / "parameter_values.yaml").read_text())
    assert values["parameterValues"][0]["name"] == "Python"
    assert out.strip().splitlines()[-1].split()[1:3] == ["run", str(tmp_path / "b" / "template.yaml")]


def test_preview_engine_bundle_asks_for_no_gpu(tmp_path, edit, capsys):
    assert bundle(capsys, str(edit), "--bundle", str(tmp_path / "b"), "--output-dir", str(tmp_path / "o"),
                  *PREVIEW)[0] == 0
    document = yaml.safe_load((tmp_path / "b" / "template.yaml").read_text())
    assert "hostRequirements" not in document["steps"][0]


def test_an_existing_bundle_folder_is_refused_and_left_alone(tmp_path, edit, capsys):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    code, _out, err = bundle(capsys, str(edit), "--bundle", str(tmp_path / "b"), "--output-dir",
                             str(tmp_path / "o"), *PREVIEW)
    assert code == 2 and "already exists" in err
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["notes.txt"]


def test_a_long_media_file_bundles_one_task_per_scene(tmp_path, capsys):
    scan = scene_clip(tmp_path / "scan.mov")
    code, _out, err = bundle(capsys, str(scan), "--bundle", str(tmp_path / "b"), "--output-dir", str(tmp_path / "o"),
                             "--split-scenes", *PREVIEW)
    assert code == 0, err
    restore = yaml.safe_load((tmp_path / "b" / "template.yaml").read_text())["steps"][0]
    frames = next(p["range"] for p in restore["parameterSpace"]["taskParameterDefinitions"] if p["name"] == "Frames")
    assert frames == ["0-19", "20-44", "45-59"]


def test_restore_json_events_become_openjd_progress_status_and_fail_lines():
    assert openjd_lines('{"event": "progress", "phase": "denoise", "fraction": 0.25, "window": 0, "windows": 2,'
                        ' "frames_done": 0, "frames_total": 9}') == [
        "openjd_progress: 25.0", "openjd_status: denoise window 1/2, frames 0/9"]
    assert openjd_lines('{"event": "error", "exit_code": 2, "message": "plate.mov: file not found"}') == [
        "openjd_fail: plate.mov: file not found"]
    assert openjd_lines("warning: something\n") == ["warning: something"]


def frames_of(folder: Path) -> dict[str, list]:
    return {p.name: [f.tolist() for f in movie_frames(p)] for p in sorted(folder.glob("*.mov"))}


def conformed_clips(path: Path) -> list[tuple]:
    timeline = otio.adapters.read_from_file(str(path))
    return [(Path(c.media_reference.target_url).name, c.source_range, c.range_in_parent())
            for c in timeline.find_clips()]


@pytest.mark.parametrize("worker_daemon", [[], ["--worker-daemon"]], ids=["in-process", "worker-daemon"])
def test_openjd_run_of_the_bundle_gives_the_same_files_as_reel_restore(tmp_path, edit, capsys, worker_daemon):
    code, out, err = bundle(capsys, str(edit), "--bundle", str(tmp_path / "b"), "--output-dir",
                            str(tmp_path / "farm"), *PREVIEW, *worker_daemon)
    assert code == 0, err
    run = run_locally(out.strip().splitlines()[-1])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "openjd_progress: 100" in run.stdout
    if worker_daemon:  # one daemon for the session, entered before the tasks and stopped after them
        assert run.stdout.count("openjd_env: VIVIDVR_FARM_DAEMON=127.0.0.1:") == 1
        assert "vividvr daemon (pid" in run.stdout and "stopped" in run.stdout
    assert main(["reel", "restore", str(edit), "--output-dir", str(tmp_path / "here"), *PREVIEW]) == 0
    assert frames_of(tmp_path / "farm") == frames_of(tmp_path / "here")
    assert conformed_clips(tmp_path / "farm" / "edit.restored.otio") == conformed_clips(
        tmp_path / "here" / "edit.restored.otio")


STEPS = 8  # a tiny step takes tens of milliseconds: room to see the first one end and kill before the last


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (Linux /proc), found before any is killed and re-parented."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def steps_done(manifest: Path) -> int:
    try:
        return json.loads(manifest.read_text()).get("steps_done", 0)
    except (OSError, ValueError):
        return 0


def test_a_killed_restore_task_resumes_from_its_last_step_and_gives_identical_output(
    tmp_path, edit, capsys, reference_checkpoints
):
    """The tiny checkpoints, a real Vivid-VR engine: kill -9 the task mid-range, run the bundle again."""
    engine = ["--engine", "vividvr", "--checkpoints", str(reference_checkpoints), "--device", "cpu",
              "--caption", "a test", "--steps", str(STEPS), "--window-frames", "9", "--tile-size", "8",
              "--upscale", "1"]
    short = tmp_path / "short.otio"
    timeline = otio.adapters.read_from_file(str(edit))
    del timeline.video_tracks()[0][1:]  # one clip: alpha frames 2-5
    otio.adapters.write_to_file(timeline, str(short))
    code, out, err = bundle(capsys, str(short), "--bundle", str(tmp_path / "b"), "--output-dir",
                            str(tmp_path / "farm"), *engine)
    assert code == 0, err
    command = out.strip().splitlines()[-1]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    task = subprocess.Popen(shlex.split(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    manifest = tmp_path / "farm" / ".vividvr-reel" / "state" / "alpha.2-5" / "engine" / "manifest.json"
    deadline = time.monotonic() + 240
    while steps_done(manifest) < 1 and time.monotonic() < deadline and task.poll() is None:
        time.sleep(0.01)
    for pid in [task.pid, *descendants(task.pid)]:  # openjd runs the task in a session of its own
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    task.wait()
    assert 1 <= steps_done(manifest) < STEPS, "the task was not killed between its first and last step"
    assert not (tmp_path / "farm" / "alpha.2-5.mov").exists()
    run = run_locally(command)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert main(["reel", "restore", str(short), "--output-dir", str(tmp_path / "here"), *engine]) == 0
    assert frames_of(tmp_path / "farm") == frames_of(tmp_path / "here")
