"""One clip over 1 and 2 CPU worker processes: wall time, and what the workers exchange.

A 40-frame 48x96 clip restored at 2x (12x24 latents, 10 tiles of 8 per window, 4 windows of 17
frames, 2 steps) with the tiny reference checkpoints, `--devices cpu` then `cpu,cpu`. Prints the
wall time of each, checks the frames are identical, and the bytes each worker sends per step as
a fraction of the whole latent state (latents + x0 of every window; target <= 5%). Worker
start-up (a fresh interpreter loading the models) is part of the wall time. CPU workers each
use as many threads as the caller (so the frames stay bit-identical): on a machine with few cores
two workers compete for them rather than halving the time.

    .venv/bin/python benchmarks/engine_multi.py [--workers 1 2] [--frames 40]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINTS = ROOT.parent / "shared" / "reference" / "checkpoints"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=DEFAULT_CHECKPOINTS)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()

    from vividvr_engine.in_memory import ArrayClip, MemorySink
    from vividvr_engine.pipeline import VividVREngine
    from vividvr_engine.settings import RestoreSettings

    settings = RestoreSettings(num_inference_steps=args.steps, upscale=2.0, tile_size=8,
                               num_temporal_process_frames=17, seed=1, caption="a street")
    frames = np.random.default_rng(0).random((args.frames, 48, 96, 3), dtype=np.float32)
    engine = VividVREngine.create(args.checkpoints, "cpu")
    print(f"{args.frames} frames 48x96 -> 96x192, 10 tiles/window, {args.steps} steps; {os.cpu_count()} CPU cores")
    print(f"{'workers':>8} {'wall s':>8} {'load':>5} {'sent B/worker/step':>19} {'of latent state':>16}")
    reference = None
    for workers in args.workers:
        sink = MemorySink()
        start = time.perf_counter()
        engine.restore(ArrayClip(frames, fps=24), sink, settings, devices=["cpu"] * workers)
        seconds = time.perf_counter() - start
        stats = engine.last_run
        per_step = [sent / max(1, stats.steps_run) for sent in stats.step_bytes_sent]
        worst = max(per_step)
        print(f"{workers:>8} {seconds:>8.1f} {os.getloadavg()[0]:>5.1f} {worst:>19.0f}"
              f" {worst / stats.latent_state_bytes:>15.1%}", flush=True)
        if reference is None:
            reference = sink.frames
        else:
            print(f"{'':>8} frames identical to {args.workers[0]} worker(s): {np.array_equal(sink.frames, reference)}")
    print("target: each worker sends <= 5% of the latent state per step")


if __name__ == "__main__":
    main()
