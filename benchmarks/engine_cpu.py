"""Engine speed and memory on the CPU with the tiny reference checkpoints.

Prints seconds per denoising step per tile, end-to-end seconds and peak RSS for a 33-frame and a
330-frame clip (each run in its own process, so peak RSS is that run's alone). Peak RSS for 330
frames must stay within 1.3x of 33 frames: pixels are streamed, only latents span the clip.

    .venv/bin/python benchmarks/engine_cpu.py [--checkpoints ../shared/reference/checkpoints]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINTS = ROOT.parent / "shared" / "reference" / "checkpoints"
HEIGHT, WIDTH = 32, 48  # restored at 2x: 64x96, two latent tiles of 8


class ProceduralClip:
    """Frames made on demand, so the benchmark itself holds no clip in memory."""

    def __init__(self, num_frames: int) -> None:
        self.num_frames, self.height, self.width, self.fps = num_frames, HEIGHT, WIDTH, Fraction(24)

    def frames(self, start: int = 0):
        y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
        for index in range(start, self.num_frames):
            phase = index / 7.0
            yield np.stack([(np.sin(x / 5 + phase) + 1) / 2, (np.cos(y / 4 - phase) + 1) / 2,
                            np.full_like(x, (index % 10) / 10)], axis=-1).astype(np.float32)


class CountingSink:
    def __init__(self) -> None:
        self.frames = 0

    def write_segment(self, first: int, frames: np.ndarray) -> None:
        self.frames += len(frames)


def run_one(num_frames: int, checkpoints: Path) -> dict:
    from vividvr_engine.checkpoints import CheckpointPaths, load_models
    from vividvr_engine.pipeline import VividVREngine
    from vividvr_engine.settings import RestoreSettings

    settings = RestoreSettings(
        num_inference_steps=3, upscale=2.0, tile_size=8, num_temporal_process_frames=17, caption="a city"
    )
    engine = VividVREngine(load_models(CheckpointPaths.from_root(checkpoints)))
    tile_times: list[float] = []
    last = {"t": None}

    def on_progress(p) -> None:
        now = time.perf_counter()
        if p.phase == "denoise":
            if last["t"] is not None:
                tile_times.append(now - last["t"])
            last["t"] = now
        else:
            last["t"] = None

    sink = CountingSink()
    start = time.perf_counter()
    engine.restore(ProceduralClip(num_frames), sink, settings, on_progress)
    seconds = time.perf_counter() - start
    assert sink.frames == num_frames
    return {
        "frames": num_frames,
        "seconds": seconds,
        "seconds_per_step_per_tile": float(np.median(tile_times)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=DEFAULT_CHECKPOINTS)
    parser.add_argument("--frames", type=int, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.frames:
        print(json.dumps(run_one(args.frames, args.checkpoints)))
        return
    results = []
    for frames in (33, 330):
        out = subprocess.run(
            [sys.executable, __file__, "--frames", str(frames), "--checkpoints", str(args.checkpoints)],
            check=True, capture_output=True, text=True,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'frames':>7} {'s/step/tile':>12} {'end-to-end s':>13} {'peak RSS MB':>12}")
    for r in results:
        per_tile, seconds, rss = r["seconds_per_step_per_tile"], r["seconds"], r["peak_rss_mb"]
        print(f"{r['frames']:>7} {per_tile:>12.4f} {seconds:>13.1f} {rss:>12.0f}")
    ratio = results[1]["peak_rss_mb"] / results[0]["peak_rss_mb"]
    print(f"peak RSS 330/33 frames: {ratio:.2f}x (target <= 1.30x): {'OK' if ratio <= 1.3 else 'OVER'}")


if __name__ == "__main__":
    main()
