"""The daemon's memory estimate names the settings that would make a Vivid-VR job fit."""

from __future__ import annotations

from vividvr_daemon import memory
from vividvr_engine.settings import RestoreSettings


def test_vividvr_refusal_names_tile_size_window_frames_and_offload():
    settings = RestoreSettings()
    need = memory.estimate("vividvr", settings, 1080, 1920, 500)
    message = memory.refusal(need, 16 * memory.GIB, "cuda:0", settings)
    assert "lower tile_size (now 128)" in message
    assert "lower num_temporal_process_frames (now 121)" in message
    assert "set offload to model" in message


def test_offload_and_smaller_tiles_lower_the_estimate():
    base = memory.estimate("vividvr", RestoreSettings(), 1080, 1920, 500).bytes
    offloaded = memory.estimate("vividvr", RestoreSettings(offload="model"), 1080, 1920, 500)
    smaller = memory.estimate("vividvr", RestoreSettings(tile_size=64), 1080, 1920, 500).bytes
    assert offloaded.bytes < base and smaller < base
    assert "offload" not in offloaded.knobs  # already offloading: nothing left to suggest there


def test_a_job_that_fits_is_not_refused():
    settings = RestoreSettings(tile_size=64, num_temporal_process_frames=33, offload="model")
    need = memory.estimate("vividvr", settings, 540, 960, 100)
    assert memory.refusal(need, 80 * memory.GIB, "cuda:0", settings) is None
