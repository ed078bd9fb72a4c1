"""Media throughput and memory, printed as numbers (targets live here, never in timed tests).

1. Frames per second of read + write through the preview engine at scale 1 (identity), for a
   1080p ProRes 422 HQ movie -> ProRes 422 HQ and a 1080p EXR half sequence -> EXR half, next
   to the same conversion by the `ffmpeg` CLI in the same run, and their ratio. (vividvr goes
   through float32 RGB and back, ffmpeg converts directly, so the ratio is the price of the
   float pipeline, not of FFmpeg.)
2. Peak RSS of whole restores of 100 and 2000 frames of 1080p (H.264 source -> ProRes), each in
   a fresh process; memory must not grow with clip length: target ratio <= 1.3.

Usage: .venv/bin/python benchmarks/media.py [--frames 48] [--rss-frames 100 2000] [--skip-rss]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import OpenEXR

from vividvr_client.timecode import FrameRange
from vividvr_engine.preview import PreviewEngine
from vividvr_engine.restore_job import RestoreJobSpec, restore_clip
from vividvr_engine.settings import RestoreSettings

WIDTH, HEIGHT = 1920, 1080
RATE = Fraction(24000, 1001)


def picture(index: int) -> np.ndarray:
    """A 1080p test picture: gradients, a moving bar and fine noise (so codecs have work to do)."""
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    rgb = np.stack([x / WIDTH, y / HEIGHT, 0.5 + 0.5 * np.sin((x + 16 * index) / 40)], axis=-1)
    rgb[:, (index * 24) % WIDTH : (index * 24) % WIDTH + 64] = 0.9
    return (rgb + rng.normal(0, 0.01, rgb.shape)).clip(0, 1).astype(np.float32)


def make_movie(path: Path, frames: int, codec: str, pix_fmt: str, options: dict) -> Path:
    cycle = [np.rint(picture(i) * 65535).astype(np.uint16) for i in range(min(frames, 12))]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=RATE, options=options)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pix_fmt
        stream.codec_context.thread_count = 0
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(cycle[i % len(cycle)], format="rgb48le").reformat(
                format=pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG"
            )
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def make_exr_sequence(folder: Path, frames: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    for i in range(frames):
        rgb = (picture(i) * 4).astype(np.float16)  # scene-linear, well above 1
        OpenEXR.File(header, {"RGB": rgb}).write(str(folder / f"plate.{1001 + i:04d}.exr"))
    return folder / "plate.####.exr"


def time_vividvr(source: Path, output: Path, frames: int, window: int) -> float:
    settings = RestoreSettings(upscale=1, num_temporal_process_frames=window)
    spec = RestoreJobSpec(str(source), str(output), None)
    started = time.perf_counter()
    result = restore_clip(spec, PreviewEngine(), settings)
    assert result.frames.count == frames
    return frames / (time.perf_counter() - started)


def time_ffmpeg(arguments: list[str], frames: int) -> float | None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    started = time.perf_counter()
    subprocess.run([ffmpeg, "-v", "error", "-y", *arguments], check=True)
    return frames / (time.perf_counter() - started)


def report(name: str, ours: float, theirs: float | None) -> None:
    if theirs is None:
        print(f"{name:34s} vividvr {ours:6.1f} fps | ffmpeg CLI: not installed (apt-get install ffmpeg to compare)")
    else:
        print(f"{name:34s} vividvr {ours:6.1f} fps | ffmpeg CLI {theirs:6.1f} fps | ratio {ours / theirs:.2f}")


def throughput(work: Path, frames: int, window: int) -> None:
    prores = make_movie(work / "src.mov", frames, "prores_ks", "yuv422p10le", {"profile": "3"})
    ours = time_vividvr(prores, work / "ours.mov", frames, window)
    theirs = time_ffmpeg(["-i", str(prores), "-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le",
                          str(work / "theirs.mov")], frames)
    report("1080p ProRes 422 HQ -> ProRes HQ", ours, theirs)

    exr = make_exr_sequence(work / "exr", frames)
    ours = time_vividvr(exr, work / "ours" / "out.####.exr", frames, window)
    (work / "theirs").mkdir()
    theirs = time_ffmpeg(["-start_number", "1001", "-i", str(work / "exr" / "plate.%04d.exr"), "-c:v", "exr",
                          "-compression", "zip16", "-format", "half", "-start_number", "1001",
                          str(work / "theirs" / "out.%04d.exr")], frames)
    report("1080p EXR half -> EXR half", ours, theirs)


def rss_child(source: str, output: str, frames: int, window: int) -> None:
    """Run one restore and print its peak RSS (this process only)."""
    settings = RestoreSettings(upscale=1, num_temporal_process_frames=window)
    started = time.perf_counter()
    restore_clip(RestoreJobSpec(source, output, FrameRange(0, frames - 1), "prores"), PreviewEngine(), settings)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": frames, "peak_rss_mib": peak_mib, "seconds": seconds}))


def peak_rss(work: Path, counts: list[int], window: int) -> None:
    source = make_movie(work / "long.mp4", max(counts), "libx264", "yuv420p", {"preset": "ultrafast", "crf": "18"})
    peaks = []
    for count in counts:
        output = work / f"rss_{count}.mov"
        done = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(source), str(output), str(count), "--window-frames",
             str(window)],
            check=True, capture_output=True, text=True,
        )
        record = json.loads(done.stdout.strip().splitlines()[-1])
        peaks.append(record["peak_rss_mib"])
        output.unlink()
        print(f"peak RSS, {count:5d} frames of 1080p: {record['peak_rss_mib']:7.0f} MiB "
              f"({count / record['seconds']:.1f} fps, H.264 -> ProRes HQ)")
    ratio = peaks[-1] / peaks[0]
    print(f"peak RSS ratio {counts[-1]} vs {counts[0]} frames: {ratio:.2f} (target <= 1.3: "
          f"{'met' if ratio <= 1.3 else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48, help="frames for the throughput runs")
    parser.add_argument("--rss-frames", type=int, nargs=2, default=[100, 2000])
    parser.add_argument("--window-frames", type=int, default=33, help="preview engine window (8k+1)")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--rss-child", nargs=3, metavar=("SOURCE", "OUTPUT", "FRAMES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        source, output, frames = args.rss_child
        rss_child(source, output, int(frames), args.window_frames)
        return
    print(f"PyAV {av.__version__} (FFmpeg {'.'.join(map(str, av.library_versions['libavcodec']))} libavcodec); "
          f"ffmpeg CLI: {shutil.which('ffmpeg') or 'not installed'}; window {args.window_frames} frames")
    with tempfile.TemporaryDirectory(prefix="vividvr-bench-") as folder:
        work = Path(folder)
        throughput(work, args.frames, args.window_frames)
        if not args.skip_rss:
            peak_rss(work, args.rss_frames, args.window_frames)


if __name__ == "__main__":
    main()
