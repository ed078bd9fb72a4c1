"""Text-fix cost per 1080p frame on this machine: the CRAFT detector and tiled Real-ESRGAN x2plus.

    .venv/bin/python benchmarks/textfix.py                 # 2-3 minutes on 2 busy CPU cores
    .venv/bin/python benchmarks/textfix.py --tiles 0       # time whole Real-ESRGAN frames instead

The detector uses EasyOCR's real weights (installed with the project). Real-ESRGAN weights cannot
be downloaded here, so it runs a randomly initialised network of x2plus's exact size (23 blocks,
64 features): the cost is the same. A whole 1080p x2plus frame takes minutes on two cores, so by
default a few of its tiles are timed and the frame time is extrapolated from the tile count; the
printout says which. Each stage runs in its own process so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def frame_with_text(height: int, width: int):
    """A gradient frame with a few lines of text, so the detector does its usual work."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    yy, xx = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    base = np.stack([0.5 + 0.3 * xx, 0.4 + 0.3 * yy, 0.6 - 0.2 * xx * yy], -1)
    image = Image.fromarray((base * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(("VIVID-VR TEXT FIX", "Platform 9", "Scene 12 Take 3")):
        font = ImageFont.load_default(size=max(12, height // 20))
        draw.text((width // 10, height // 6 * (i + 1)), text, fill=(15, 15, 25), font=font)
    return np.asarray(image, dtype=np.float32) / 255


def run_detector(height: int, width: int, frames: int, result: dict) -> None:
    from vividvr_engine.realesrgan import frames_to_tensor
    from vividvr_engine.textfix import CraftDetector, craft_path, text_mask

    detector = CraftDetector.from_file(craft_path(None), "cpu")
    frame = frames_to_tensor(frame_with_text(height, width))
    text_mask(detector.text_scores(frame[:, :, :64, :64]))  # warm-up: first-call allocations
    start = time.perf_counter()
    for _ in range(frames):
        mask = text_mask(detector.text_scores(frame))
    result["seconds"] = (time.perf_counter() - start) / frames
    result["marked"] = float((mask > 0.5).float().mean())
    result["peak_mib"] = peak_rss_mib()


def run_realesrgan(height: int, width: int, tiles: int, result: dict) -> None:
    import torch

    from vividvr_engine.realesrgan import RealESRGAN, RRDBConfig, RRDBNet, frames_to_tensor

    torch.manual_seed(0)
    model = RealESRGAN(RRDBNet(RRDBConfig(scale=2)).eval().requires_grad_(False), "cpu")
    frame = frames_to_tensor(frame_with_text(height, width))
    unit = model.net.config.unshuffle
    rows, cols = model.plan_axis(height // unit), model.plan_axis(width // unit)
    result["tiles_per_frame"] = len(rows) * len(cols)
    result["tile"], result["overlap"] = model.tile, model.overlap
    with torch.inference_mode():
        model.net(frame[:, :, :32, :32])  # warm-up
        start = time.perf_counter()
        if tiles == 0:
            model.upscale_tensor(frame)
            result["seconds"] = time.perf_counter() - start
            result["timed"] = "whole frame"
        else:
            timed = [(r, c) for r in rows for c in cols][:tiles]
            for r, c in timed:
                model.net(frame[..., r.start * unit : r.stop * unit, c.start * unit : c.stop * unit])
            per_tile = (time.perf_counter() - start) / len(timed)
            result["seconds"] = per_tile * result["tiles_per_frame"]
            result["timed"] = f"{len(timed)} of {result['tiles_per_frame']} tiles, extrapolated"
        result["peak_mib"] = peak_rss_mib()
        # Tiled against untiled at the default overlap, on a crop small enough to run whole.
        small = frame[:, :, : 3 * model.overlap, : 3 * model.overlap]
        whole = RealESRGAN(model.net, "cpu", tile=0).upscale_tensor(small)
        tiled = RealESRGAN(model.net, "cpu", tile=2 * model.overlap, overlap=model.overlap).upscale_tensor(small)
        result["tile_diff_max"] = float((whole - tiled).abs().max())
        result["tile_diff_mean"] = float((whole - tiled).abs().mean())


def run_baseline(result: dict) -> None:
    import torch  # noqa: F401  (the import is what is measured)

    import vividvr_engine.textfix  # noqa: F401

    result["peak_mib"] = peak_rss_mib()


def in_own_process(target, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        result = manager.dict()
        process = context.Process(target=target, args=(*args, result))
        process.start()
        process.join()
        if process.exitcode:
            raise SystemExit(f"{target.__name__} failed with exit code {process.exitcode}")
        return dict(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--frames", type=int, default=1, help="detector frames to time")
    parser.add_argument("--tiles", type=int, default=1, help="Real-ESRGAN tiles to time; 0 times whole frames")
    args = parser.parse_args()

    import torch

    print(f"CPU threads: {torch.get_num_threads()}, frame {args.width}x{args.height}")
    base = in_own_process(run_baseline)
    print(f"baseline (torch + modules imported): peak RSS {base['peak_mib']:.0f} MiB")
    det = in_own_process(run_detector, args.height, args.width, args.frames)
    print(
        f"CRAFT detector + mask: {det['seconds']:.2f} s/frame over {args.frames} frames, "
        f"peak RSS {det['peak_mib']:.0f} MiB, {det['marked']:.1%} of the frame marked as text"
    )
    esr = in_own_process(run_realesrgan, args.height, args.width, args.tiles)
    print(
        f"Real-ESRGAN x2plus-size, tiled (tile {esr['tile']}, overlap {esr['overlap']}): "
        f"{esr['seconds']:.1f} s/frame ({esr['timed']}), peak RSS {esr['peak_mib']:.0f} MiB"
    )
    print(
        f"tiled vs untiled at overlap {esr['overlap']} (random weights, {3 * esr['overlap']} px square): "
        f"max |diff| {esr['tile_diff_max']:.2e}, mean {esr['tile_diff_mean']:.2e}"
    )
    print(f"text fix total: about {det['seconds'] + esr['seconds']:.1f} s per {args.width}x{args.height} frame on CPU")


if __name__ == "__main__":
    main()
