"""A daemon keeps the diffusion models loaded across jobs whose per-job settings differ."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_support import kinds, make_media, start_daemon

from vividvr_client.client import DaemonClient, make_request
from vividvr_client.timecode import FrameRange
from vividvr_engine import pipeline
from vividvr_engine.engines import create_engine
from vividvr_engine.media.images import read_image
from vividvr_engine.restore_job import RestoreJobSpec, restore_clip
from vividvr_engine.settings import RestoreSettings

TINY = {"num_inference_steps": 1, "upscale": 0.5, "tile_size": 8, "num_temporal_process_frames": 9}


def test_two_jobs_with_different_seeds_and_captions_load_the_models_once(tmp_path: Path, reference_checkpoints,
                                                                        monkeypatch) -> None:
    loads = []
    real_load = pipeline.load_models

    def counting_load(*args, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_models", counting_load)
    movie = make_media(tmp_path, frames=2)
    jobs = {"a": {"seed": 1, "caption": "a bar chart"}, "b": {"seed": 2, "caption": "a test card", "color_fix": "none"}}
    daemon = start_daemon(tmp_path, checkpoints=reference_checkpoints, memory_limit_gib=1000.0)
    client = DaemonClient(daemon.address)
    try:
        outputs = {}
        for name, extra in jobs.items():
            request = make_request(str(movie), str(tmp_path / "out"), f"{name}.####.png", frames="0-1",
                                   engine="vividvr", settings={**TINY, **extra}, output_format="png16")
            events = list(client.restore(request))
            assert kinds(events)[-1] == "completed", events[-1]
            outputs[name] = list(events[-1].completed.paths)
        assert len(client.status().loaded_models) == 1
    finally:
        client.close()
        daemon.stop()
    assert len(loads) == 1, f"the models were loaded {len(loads)} times for two jobs"

    # the warm engine used each job's own settings: job b equals a fresh in-process run of job b
    reference = restore_clip(
        RestoreJobSpec(str(movie), str(tmp_path / "ref" / "b.####.png"), FrameRange(0, 1), format="png16"),
        create_engine("vividvr", reference_checkpoints, "cpu"),
        RestoreSettings(**TINY, **jobs["b"]),
    )
    for ours, theirs in zip(outputs["b"], reference.outputs, strict=True):
        assert (read_image(ours) == read_image(theirs)).all()
    assert any((read_image(a) != read_image(b)).any() for a, b in zip(outputs["a"], outputs["b"], strict=True))


@pytest.mark.parametrize("offload", ["none", "model"])
def test_the_warm_engine_is_keyed_on_what_is_loaded_not_on_job_settings(offload: str) -> None:
    from vividvr_daemon.core import Worker

    class FakeCore:
        class config:
            checkpoints = None

    worker = Worker(FakeCore(), "cpu")  # type: ignore[arg-type]
    first = worker.engine_for({"engine": "preview", "settings": {"seed": 1, "caption": "x", "offload": offload}})
    same = worker.engine_for({"engine": "preview", "settings": {"seed": 9, "num_inference_steps": 3,
                                                                  "color_fix": "none", "offload": offload}})
    assert same is first
    other = worker.engine_for({"engine": "preview", "settings": {"offload": "model" if offload == "none" else "none"}})
    assert other is not first
