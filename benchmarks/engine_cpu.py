"""Engine speed and memory on the CPU with the tiny reference checkpoints.

Speed (the default): the side-by-side setting of issue 11 - a 128x192 input restored at 2x,
64-px tiles (8 latents, 77 per window), 17-frame windows, 2 steps - at 33 and 132 frames, with
each step's (window, tile) evaluations one per forward pass and `--batch-tiles` per pass. Prints
seconds of denoising per step per tile and end-to-end seconds; `--profile` adds the top functions
by own time (cProfile) of each run. Every run is its own process.

Memory (`--memory`): peak RSS of a 33- and a 330-frame clip of 32x48 input; 330 must stay within
1.3x of 33 (pixels are streamed, only latents span the clip).

    .venv/bin/python benchmarks/engine_cpu.py [--frames 33 132] [--batch-tiles 1 16] [--profile]
    .venv/bin/python benchmarks/engine_cpu.py --memory
    PYTHONPATH=OTHER_CHECKOUT .venv/bin/python benchmarks/engine_cpu.py ...   # the same runs on other code
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import time
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINTS = ROOT.parent / "shared" / "reference" / "checkpoints"
SPEED = dict(height=128, width=192, steps=2)  # 256x384 restored: 32x48 latents, 7x11 tiles of 8
MEMORY = dict(height=32, width=48, steps=3)  # 64x96 restored: two latent tiles of 8


class ProceduralClip:
    """Frames made on demand, so the benchmark itself holds no clip in memory."""

    def __init__(self, num_frames: int, height: int, width: int) -> None:
        self.num_frames, self.height, self.width, self.fps = num_frames, height, width, Fraction(24)

    def frames(self, start: int = 0):
        y, x = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        for index in range(start, self.num_frames):
            phase = index / 7.0
            yield np.stack([(np.sin(x / 5 + phase) + 1) / 2, (np.cos(y / 4 - phase) + 1) / 2,
                            np.full_like(x, (index % 10) / 10)], axis=-1).astype(np.float32)


class CountingSink:
    def __init__(self) -> None:
        self.frames = 0

    def write_segment(self, first: int, frames: np.ndarray) -> None:
        self.frames += len(frames)


def run_one(num_frames: int, height: int, width: int, steps: int, batch_tiles: int, checkpoints: Path,
            profile: bool) -> dict:
    from vividvr_engine.checkpoints import CheckpointPaths, load_models
    from vividvr_engine.pipeline import VividVREngine
    from vividvr_engine.settings import RestoreSettings

    geometry = dict(num_inference_steps=steps, upscale=2.0, tile_size=8, num_temporal_process_frames=17)
    models = load_models(CheckpointPaths.from_root(checkpoints))
    if "settings" not in inspect.signature(VividVREngine).parameters:
        settings = RestoreSettings(**geometry, caption="a city")
        engine = VividVREngine(models)
        restore = partial(engine.restore, settings=settings)
    else:  # code from before per-job settings (issue 11's baseline): settings and captioner belong to the engine
        from vividvr_engine.captioning import FixedCaptioner

        engine = VividVREngine(models, RestoreSettings(**geometry), FixedCaptioner("a city"))
        restore = engine.restore
    if batch_tiles > 1:
        engine.batch_tiles = batch_tiles
    phases: dict[str, float] = {}
    shape = {}

    def on_progress(p) -> None:
        phases.setdefault(p.phase, time.perf_counter())
        shape.update(windows=p.windows, tiles=p.tiles)

    sink = CountingSink()
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    restore(ProceduralClip(num_frames, height, width), sink, progress=on_progress)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - start
    assert sink.frames == num_frames
    denoise = phases["decode"] - phases["denoise"]
    result = {
        "frames": num_frames,
        "batch_tiles": batch_tiles,
        "seconds": seconds,
        "seconds_per_step_per_tile": denoise / (steps * shape["windows"] * shape["tiles"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": os.getloadavg()[0],
    }
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
        result["profile"] = text.getvalue()
    return result


def child(frames: int, batch_tiles: int, scenario: dict, checkpoints: Path, profile: bool) -> dict:
    command = [sys.executable, __file__, "--child", json.dumps([frames, batch_tiles, scenario, profile]),
               "--checkpoints", str(checkpoints)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=DEFAULT_CHECKPOINTS)
    parser.add_argument("--frames", type=int, nargs="+", default=[33, 132])
    parser.add_argument("--batch-tiles", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--profile", action="store_true", help="print each run's top functions by own time")
    parser.add_argument("--memory", action="store_true", help="peak RSS at 33 vs 330 frames instead")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        frames, batch_tiles, scenario, profile = json.loads(args.child)
        print(json.dumps(run_one(frames, scenario["height"], scenario["width"], scenario["steps"], batch_tiles,
                                 args.checkpoints, profile)))
        return
    if args.memory:
        results = [child(frames, 1, MEMORY, args.checkpoints, False) for frames in (33, 330)]
        ratio = results[1]["peak_rss_mb"] / results[0]["peak_rss_mb"]
        for r in results:
            print(f"{r['frames']:>5} frames: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB")
        print(f"peak RSS 330/33 frames: {ratio:.2f}x (target <= 1.30x): {'OK' if ratio <= 1.3 else 'OVER'}")
        return
    print(f"{SPEED['height']}x{SPEED['width']} input at 2x, 64-px tiles, 17-frame windows, {SPEED['steps']} steps")
    print(f"{'frames':>7} {'batch':>6} {'s/step/tile':>12} {'end-to-end s':>13} {'peak RSS MB':>12} {'load':>5}")
    for frames in args.frames:
        for batch_tiles in args.batch_tiles:
            r = child(frames, batch_tiles, SPEED, args.checkpoints, args.profile)
            print(f"{frames:>7} {batch_tiles:>6} {r['seconds_per_step_per_tile']:>12.4f} {r['seconds']:>13.1f}"
                  f" {r['peak_rss_mb']:>12.0f} {r['load']:>5.1f}", flush=True)
            if args.profile:
                print(r["profile"], flush=True)


if __name__ == "__main__":
    main()
