"""A restore on several CPU workers in a process of its own, so a test can kill it outright.

    python tests/distributed_job.py CLIP.npy OUT.npy STATE_DIR N_WORKERS SETTINGS_JSON CHECKPOINTS

Writes the pids of its workers to STATE_DIR/../workers.txt once denoising starts.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from pathlib import Path

import numpy as np

from vividvr_engine.in_memory import ArrayClip, MemorySink
from vividvr_engine.pipeline import VividVREngine
from vividvr_engine.settings import RestoreSettings


def main(argv: list[str]) -> None:
    clip_path, out_path, state_dir, workers, settings_json, checkpoints = argv
    settings = RestoreSettings(**json.loads(settings_json))
    engine = VividVREngine.create(Path(checkpoints), "cpu")
    pids = Path(state_dir).parent / "workers.txt"

    def on_progress(progress) -> None:
        if progress.phase == "denoise" and not pids.exists():
            pids.write_text(" ".join(str(p.pid) for p in multiprocessing.active_children()))

    sink = MemorySink()
    clip = ArrayClip(np.load(clip_path), fps=24)
    engine.restore(clip, sink, settings, on_progress, state_dir=Path(state_dir), devices=["cpu"] * int(workers))
    np.save(out_path, sink.frames)


if __name__ == "__main__":
    main(sys.argv[1:])
