"""A Vivid-VR job without a caption: refused at submit time when CogVLM2-Video cannot load, else the
engine runs it in a worker process."""

from __future__ import annotations

import gc
import os
from fractions import Fraction
from pathlib import Path

import grpc
import pytest
from cogvlm2_support import make_tiny_cogvlm2
from daemon_support import make_media, start_daemon
from media_patterns import write_movie

from vividvr_cli.main import main
from vividvr_client.client import DaemonClient, DaemonError, make_request
from vividvr_engine.captioning import CogVLM2Captioner
from vividvr_engine.pipeline import VividVREngine
from vividvr_engine.settings import RestoreSettings


def _submit_code(client: DaemonClient, request) -> grpc.StatusCode | None:  # type: ignore[no-untyped-def]
    try:
        client.submit(request)
    except DaemonError as exc:
        return exc.code
    return None


def test_daemon_refuses_an_uncaptioned_vividvr_job_with_failed_precondition_until_the_captioner_is_there(
    reference_checkpoints: Path, tmp_path: Path
) -> None:
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    for part in ("CogVideoX1.5-5B", "Vivid-VR"):  # the diffusion models are there; only the captioner is not
        (checkpoints / part).symlink_to(reference_checkpoints / part)
    daemon = start_daemon(tmp_path, checkpoints=checkpoints, memory_limit_gib=10_000.0)
    movie = make_media(tmp_path, frames=4)
    out = str(tmp_path / "out")
    small = {"upscale": 1.0}  # the clip's own size: even sides for ProRes
    try:
        with DaemonClient(daemon.address) as client:
            with pytest.raises(DaemonError) as refused:
                client.submit(make_request(str(movie), out, "a.mov", engine="vividvr", settings=small))
            assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
            message = refused.value.message
            assert str(checkpoints / "cogvlm2-llama3-caption") in message
            assert "vividvr models download --what caption" in message and "caption" in message
            captioned = make_request(str(movie), out, "b.mov", engine="vividvr", settings={**small, "caption": "a cat"})
            assert _submit_code(client, captioned) is None
            other_engine = make_request(str(movie), out, "c.mov", engine="preview", settings=small)
            assert _submit_code(client, other_engine) is None
            make_tiny_cogvlm2(checkpoints / "cogvlm2-llama3-caption")
            installed = make_request(str(movie), out, "d.mov", engine="vividvr", settings=small)
            assert _submit_code(client, installed) is None
    finally:
        daemon.stop()


def test_cli_restore_without_caption_names_the_captioner_before_loading_any_model(
    reference_checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    movie = write_movie(tmp_path / "plate.mov", "mjpeg", Fraction(24), 3, pix_fmt="yuvj420p")
    args = ["restore", str(movie), "-o", str(tmp_path / "o.mov"), "--checkpoints", str(reference_checkpoints)]
    assert main([*args, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "cogvlm2-llama3-caption" in err and "--caption TEXT" in err
    assert not (tmp_path / "o.mov").exists()


def test_an_uncaptioned_vividvr_engine_loads_cogvlm2_in_its_own_process(reference_checkpoints: Path, tmp_path: Path):
    root = tmp_path / "checkpoints"
    root.mkdir()
    for part in ("CogVideoX1.5-5B", "Vivid-VR"):
        (root / part).symlink_to(reference_checkpoints / part)
    make_tiny_cogvlm2(root / "cogvlm2-llama3-caption")
    engine = VividVREngine.create(root, device="cpu")
    captioner = engine.captioner_for(RestoreSettings())  # no caption: the model, loaded on first need
    assert engine.captioner_for(RestoreSettings()) is captioner  # and kept for the next job
    assert isinstance(captioner, CogVLM2Captioner)
    process = captioner.worker.process
    assert process.pid != os.getpid() and process.poll() is None  # loaded, waiting for frames
    del engine, captioner  # dropping the engine (as the daemon does when it unloads) ends the worker
    gc.collect()
    assert process.wait(timeout=30) == 0
