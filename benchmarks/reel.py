"""Reel planning speed, merging efficiency and scene-split throughput, printed as numbers.

1. Planning time (read + relink + plan) for the largest EDL in ../shared/assets/editorial that the
   cmx_3600 adapter reads, and for a generated 2,000-event EDL cut from 20 generated reels that
   are relinked by reel name and timecode.
2. Merging efficiency on the real EDLs with 12 frames of handles: restored frames per edited
   frame (the real media is not shipped, so each reel's source timecode spans are merged exactly
   as the planner merges media frames, without clamping to the media).
3. Scene-split throughput (PySceneDetect, PyAV backend) in frames per second on a 1080p clip.

Usage: .venv/bin/python benchmarks/reel.py [--events 2000] [--reels 20]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT / "tests"))

from media_patterns import write_movie  # noqa: E402

from vividvr_client.timecode import format_timecode, parse_timecode  # noqa: E402
from vividvr_editorial.errors import EditorialError  # noqa: E402
from vividvr_editorial.planning import merge_spans, plan_reel  # noqa: E402
from vividvr_editorial.reading import read_timeline  # noqa: E402
from vividvr_editorial.relink import MediaIndex, reel_name  # noqa: E402
from vividvr_editorial.scenes import detect_cuts  # noqa: E402

RATE = Fraction(24)
HANDLES = 12
EDL_RATES = {"losslesscut__cmx3600_fcpx_edlx_5994DF.edl": Fraction(60000, 1001)}  # as its header says


def timed_plan(edl: Path, roots: list[Path]) -> tuple[float, object]:
    started = time.perf_counter()
    plan = plan_reel(read_timeline(edl, EDL_RATES.get(edl.name, RATE)), MediaIndex.scan(roots), HANDLES)
    return time.perf_counter() - started, plan


def readable_edls() -> list[tuple[Path, otio.schema.Timeline]]:
    found = []
    for path in sorted((SHARED / "assets" / "editorial").glob("*.edl")):
        try:
            found.append((path, read_timeline(path, EDL_RATES.get(path.name, RATE))))
        except EditorialError:
            continue
    return found


def generated_edl(folder: Path, events: int, reels: int) -> Path:
    """`events` cuts drawn from `reels` 10-second reels (tiny movies with timecode), with repeats."""
    rng = random.Random(7)
    starts = {}
    for n in range(reels):
        name = f"R{n:03d}"
        timecode = format_timecode(parse_timecode(f"{1 + n:02d}:00:00:00", RATE), RATE)
        write_movie(folder / f"{name}.mov", "prores_ks", RATE, 240, (32, 24), pix_fmt="yuv422p10le", timecode=timecode)
        starts[name] = parse_timecode(timecode, RATE)
    lines = ["TITLE: generated", "FCM: NON-DROP FRAME", ""]
    record = parse_timecode("10:00:00:00", RATE)
    for event in range(1, events + 1):
        name = f"R{rng.randrange(reels):03d}"
        length = rng.randrange(8, 48)
        src = starts[name] + rng.randrange(0, 240 - length)
        tcs = [format_timecode(v, RATE) for v in (src, src + length, record, record + length)]
        lines.append(f"{event % 1000:03d}  {name:<8} V     C        {' '.join(tcs)}")
        record += length
    path = folder / "generated.edl"
    path.write_text("\n".join(lines) + "\n")
    return path


def merging(timeline: otio.schema.Timeline) -> tuple[int, int]:
    """(edited frames, restored frames with handles) merging each reel's source spans."""
    spans: dict[str, list[tuple[int, int, str]]] = {}
    edited = 0
    for clip in timeline.find_clips():
        used = clip.source_range
        first = round(used.start_time.value)
        count = round(used.duration.rescaled_to(used.start_time.rate).value)
        edited += count
        reel = reel_name(clip) or clip.name
        spans.setdefault(reel, []).append((first - HANDLES, first + count - 1 + HANDLES, clip.name))
    restored = sum(last - first + 1 for runs in spans.values() for first, last, _ in merge_spans(runs))
    return edited, restored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--reels", type=int, default=20)
    args = parser.parse_args()

    edls = readable_edls()
    largest = max(edls, key=lambda item: len(list(item[1].find_clips())))[0]
    seconds, plan = timed_plan(largest, [SHARED / "assets" / "video"])
    print(f"planning {largest.name}: {seconds * 1000:.1f} ms for {len(plan.uses) + len(plan.skipped)} events")
    with tempfile.TemporaryDirectory() as tmp:
        edl = generated_edl(Path(tmp), args.events, args.reels)
        seconds, plan = timed_plan(edl, [Path(tmp)])
        print(f"planning a generated {args.events}-event EDL over {args.reels} reels: {seconds:.2f} s"
              f" -> {len(plan.ranges)} ranges, {len(plan.skipped)} skipped,"
              f" {plan.restored_frames / max(1, plan.edited_frames):.2f} restored frames per edited frame")

    print(f"merging efficiency with {HANDLES} frames of handles (restored frames per edited frame):")
    for path, timeline in edls:
        edited, restored = merging(timeline)
        print(f"  {path.name}: {edited} edited, {restored} restored -> {restored / max(1, edited):.2f}")

    clip = SHARED / "assets" / "video" / "otio__frame_debugger_0h.mov"
    started = time.perf_counter()
    cuts = detect_cuts(str(clip))
    seconds = time.perf_counter() - started
    frames = MediaIndex.scan([]).probe(str(clip)).frames.count
    print(f"scene split on {clip.name} (1920x1080, {frames} frames): {frames / seconds:.1f} fps, {len(cuts)} cuts")


if __name__ == "__main__":
    main()
