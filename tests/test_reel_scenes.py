"""Scene split: PySceneDetect (PyAV backend) cuts long sources into independent ranges."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
from conftest import SHARED, require_shared
from media_patterns import read_index
from reel_support import shown_indices

from vividvr_cli.main import main
from vividvr_editorial.scenes import detect_cuts

CUTS = (20, 45)
COLOURS = ((220, 40, 40), (40, 200, 60), (30, 40, 120))


def scene_clip(path: Path, count: int = 60) -> Path:
    """Three flat-colour scenes (with grain) cut at CUTS; bars in the top four rows spell each frame's index."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        for i in range(count):
            colour = COLOURS[sum(i >= c for c in CUTS)]
            image = np.array(colour)[None, None, :] + rng.integers(-4, 4, (48, 64, 3))
            bits = (i >> (7 - np.arange(64) * 8 // 64)) & 1
            image[:4] = np.where(bits, 230, 25)[None, :, None]
            frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_generated_cuts_are_found_at_the_exact_frames(tmp_path):
    assert detect_cuts(str(scene_clip(tmp_path / "scenes.mp4"))) == list(CUTS)


def test_on_a_real_clip_the_cuts_agree_with_pyscenedetects_own_cli(tmp_path):
    clip = require_shared(SHARED / "assets" / "video" / "mmaction2__demo.mp4")
    subprocess.run([str(Path(sys.executable).parent / "scenedetect"), "-i", str(clip), "-b", "pyav", "-o",
                    str(tmp_path), "detect-content", "list-scenes", "-q"], check=True, capture_output=True)
    with open(next(tmp_path.glob("*.csv"))) as table:
        rows = list(csv.reader(table))[2:]  # a timecode list line, then the header
    cli_cuts = [int(row[1]) - 1 for row in rows[1:]]  # the CLI's start frames count from 1
    assert cli_cuts and detect_cuts(str(clip)) == cli_cuts


def test_split_scenes_makes_each_scene_its_own_range_and_razors_the_clip(tmp_path, capsys):
    source = scene_clip(tmp_path / "scan.mov")
    rate = 24
    timeline = otio.schema.Timeline(name="scan")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Clip(
        name="scan", media_reference=otio.schema.ExternalReference(target_url=str(source)),
        source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(10, rate),
                                             otio.opentime.RationalTime(40, rate))))
    timeline.tracks.append(track)
    path = tmp_path / "scan.otio"
    otio.adapters.write_to_file(timeline, str(path))
    code = main(["reel", "restore", str(path), "--output-dir", str(tmp_path / "out"), "--split-scenes",
                 "--engine", "preview", "--upscale", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.mov")) == ["scan.10-19.mov", "scan.20-44.mov",
                                                                       "scan.45-49.mov"]
    clips = list(otio.adapters.read_from_file(out.strip().splitlines()[-1]).find_clips())
    assert [round(c.source_range.duration.value) for c in clips] == [10, 25, 5]  # same 40 record frames
    assert [i for c in clips for i in shown_indices(c, slice(0, 4))] == list(range(10, 50))


def test_read_index_reads_the_scene_clip_bars(tmp_path):
    frames = [f.to_ndarray(format="rgb24") for f in av.open(str(scene_clip(tmp_path / "s.mp4", 3))).decode(video=0)]
    assert [read_index(f[:4].astype(np.float32) / 255) for f in frames] == [0, 1, 2]



class RecordingEngine:
    """The preview engine, noting the length of every clip it is handed."""

    def __init__(self) -> None:
        from vividvr_engine.preview import PreviewEngine

        self.inner, self.name, self.clips = PreviewEngine(), "recording", []

    def output_size(self, height, width, settings):  # type: ignore[no-untyped-def]
        return self.inner.output_size(height, width, settings)

    def restore(self, clip, sink, settings, progress=None, **kwargs):  # type: ignore[no-untyped-def]
        self.clips.append(clip.num_frames)
        self.inner.restore(clip, sink, settings, progress, **kwargs)


def test_scene_split_engine_restores_each_scene_alone_into_one_output_in_order(tmp_path):
    from vividvr_client.timecode import FrameRange
    from vividvr_editorial.scenes import split_engine_at_scenes
    from vividvr_engine.restore_job import RestoreJobSpec, restore_clip
    from vividvr_engine.settings import RestoreSettings

    source = scene_clip(tmp_path / "scan.mov")
    recording = RecordingEngine()
    engine = split_engine_at_scenes(recording, str(source), FrameRange(10, 54))
    settings = RestoreSettings(upscale=1, num_temporal_process_frames=9)
    restore_clip(RestoreJobSpec(str(source), str(tmp_path / "out.mov"), FrameRange(10, 54)), engine, settings)
    assert recording.clips == [10, 25, 10]  # 10-19, 20-44, 45-54: no clip spans a cut
    restored = av.open(str(tmp_path / "out.mov")).decode(video=0)
    assert [read_index(f.to_ndarray(format="rgb24")[:4].astype(np.float32) / 255) for f in restored] == list(
        range(10, 55))


def test_restore_split_scenes_runs_here_and_is_refused_through_a_daemon(tmp_path, capsys):
    source = scene_clip(tmp_path / "scan.mov")
    argv = ["restore", str(source), "--output", str(tmp_path / "out.mov"), "--split-scenes", "--engine", "preview",
            "--upscale", "1"]
    assert main(argv) == 0
    assert main([*argv, "--daemon", "127.0.0.1:1"]) == 2
    assert "not available through the daemon: --split-scenes" in capsys.readouterr().err
