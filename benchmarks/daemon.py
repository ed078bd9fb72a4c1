"""Daemon overhead, event latency and concurrency, with the preview engine on generated media.

    .venv/bin/python benchmarks/daemon.py [--frames 48] [--size 256x192] [--clients 20]

Starts a real daemon (`vividvr daemon start --foreground`, its own process, loopback port) and
prints:
- overhead: wall time of one job through RestoreClip / the same job via `restore_clip` in process
  (median of --repeats runs each);
- event latency: event persisted (its server timestamp) -> received by the client, median and p95;
- N concurrent clients each restoring a short clip at once: total wall time, jobs per second,
  per-client latency median and p95, and whether every job completed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vividvr_client.client import DaemonClient, make_request
from vividvr_client.timecode import FrameRange
from vividvr_engine.engines import create_engine
from vividvr_engine.restore_job import RestoreJobSpec, restore_clip
from vividvr_engine.settings import RestoreSettings

SETTINGS = {"upscale": 2.0, "num_temporal_process_frames": 17}


def write_media(path: Path, frames: int, width: int, height: int) -> Path:
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        for i in range(frames):
            rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def start_daemon(root: Path) -> tuple[subprocess.Popen, str]:
    pid_file = root / "data" / "daemon.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vividvr_cli.main",
            "daemon",
            "start",
            "--foreground",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(root / "data"),
            "--log-dir",
            str(root / "log"),
            "--media-root",
            str(root / "media"),
            "--output-root",
            str(root / "out"),
            "--device",
            "cpu",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if pid_file.exists() and json.loads(pid_file.read_text())["pid"] == process.pid:
            return process, json.loads(pid_file.read_text())["address"]
        if process.poll() is not None:
            sys.exit(f"daemon exited; see {root / 'log' / 'daemon.log'}")
        time.sleep(0.05)
    process.kill()
    sys.exit("daemon did not start")


def in_process(movie: Path, output: Path, frames: int) -> float:
    started = time.perf_counter()
    spec = RestoreJobSpec(str(movie), str(output), FrameRange(0, frames - 1), format="exr")
    restore_clip(spec, create_engine("preview"), RestoreSettings(**SETTINGS))
    return time.perf_counter() - started


def through_daemon(client: DaemonClient, movie: Path, out: Path, name: str, frames: int) -> tuple[float, list, str]:
    """(wall seconds, [latency of each event], final event kind)."""
    request = make_request(
        str(movie), str(out), name, frames=f"0-{frames - 1}", engine="preview", settings=SETTINGS, output_format="exr"
    )
    started = time.perf_counter()
    latencies, kind = [], ""
    for event in client.restore(request):
        latencies.append(time.time() - event.time)
        kind = event.WhichOneof("kind")
    return time.perf_counter() - started, latencies, kind


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", default="256x192")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for name in ("media", "out", "ref"):
            (root / name).mkdir()
        movie = write_media(root / "media" / "bench.mov", args.frames, width, height)
        short = write_media(root / "media" / "short.mov", 9, 64, 48)
        process, address = start_daemon(root)
        try:
            with DaemonClient(address) as client:
                through_daemon(client, short, root / "out", "warmup.####.exr", 9)  # load the engine once
                local, remote, latencies = [], [], []
                for i in range(args.repeats):  # interleaved, alternating order: shared-machine noise hits both
                    order = (0, 1) if i % 2 == 0 else (1, 0)
                    for which in order:
                        if which == 0:
                            local.append(in_process(movie, root / "ref" / f"r{i}.####.exr", args.frames))
                            continue
                        seconds, lat, kind = through_daemon(client, movie, root / "out", f"d{i}.####.exr", args.frames)
                        assert kind == "completed", kind
                        remote.append(seconds)
                        latencies += lat
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(
                f"job: {args.frames} frames {width}x{height} -> x2, preview engine, EXR sequence;"
                f" {os.cpu_count()} cpu cores, load average {load}"
            )
            runs = ", ".join(f"{s:.3f}" for s in local)
            print(f"in process:     median {statistics.median(local):.3f} s  (runs {runs})")
            runs = ", ".join(f"{s:.3f}" for s in remote)
            print(f"through daemon: median {statistics.median(remote):.3f} s  (runs {runs})")
            ratio = statistics.median(remote) / statistics.median(local)
            print(f"overhead ratio (daemon / in process): {ratio:.3f}")
            print(
                f"event latency (persisted -> received): median {percentile(latencies, 50) * 1000:.2f} ms,"
                f" p95 {percentile(latencies, 95) * 1000:.2f} ms over {len(latencies)} events"
            )

            def one(i: int) -> tuple[float, str]:
                with DaemonClient(address) as own:
                    seconds, _, kind = through_daemon(own, short, root / "out", f"c{i}.####.exr", 9)
                    return seconds, kind

            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(one, range(args.clients)))
            wall = time.perf_counter() - started
            per_client = [s for s, _ in results]
            completed = sum(kind == "completed" for _, kind in results)
            print(
                f"{args.clients} concurrent clients (9 frames 64x48 each, one cpu worker): {completed}/{args.clients}"
                f" completed in {wall:.2f} s ({args.clients / wall:.1f} jobs/s); per client median"
                f" {statistics.median(per_client):.2f} s, p95 {percentile(per_client, 95):.2f} s"
            )
        finally:
            process.terminate()
            process.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
