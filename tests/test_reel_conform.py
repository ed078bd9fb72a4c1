"""`vividvr reel restore` end to end: a 3-clip edit as OTIO, EDL and FCP XML comes back conformed.

The preview engine at scale 1 is the identity, so every conformed clip must show exactly the
frame indices its original showed, read from the bars of the restored media.
"""

from __future__ import annotations

import os
from pathlib import Path

import opentimelineio as otio
import pytest
from media_patterns import read_index
from reel_support import edit_edl, edit_timeline, make_sources, original_indices, shown_indices

from vividvr_cli.main import main

ENGINE = ["--engine", "preview", "--upscale", "1"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_sources(tmp_path_factory.mktemp("media"))


def reel(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(["reel", "restore", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_conformed(otio_path: Path, original: otio.schema.Timeline) -> None:
    conformed = otio.adapters.read_from_file(str(otio_path))
    before = list(original.find_clips())
    after = list(conformed.find_clips())
    assert len(after) == len(before) == 3
    assert conformed.duration() == original.duration()
    for old, new in zip(before, after, strict=True):
        assert new.range_in_parent() == old.range_in_parent()  # record positions kept
        assert new.source_range == old.source_range  # same source range and timecode
        assert shown_indices(new) == original_indices(old, old.name.lower())


def restored_movies(output_dir: Path) -> list[str]:
    return sorted(p.name for p in output_dir.glob("*.mov"))


def test_otio_edit_is_conformed_frame_exact_with_each_source_restored_once(tmp_path, sources, capsys):
    timeline = edit_timeline(sources)
    path = tmp_path / "tiny_edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    code, out, err = reel(capsys, str(path), "--output-dir", str(tmp_path / "out"), *ENGINE)
    assert code == 0, err
    otio_path = Path(out.strip().splitlines()[-1])
    assert otio_path == (tmp_path / "out" / "tiny_edit.restored.otio").resolve()
    assert restored_movies(tmp_path / "out") == ["alpha.2-8.mov", "beta.1-4.mov"]  # alpha's overlap merged
    check_conformed(otio_path, timeline)


def test_edl_edit_relinks_by_reel_and_timecode_and_writes_an_edl_too(tmp_path, sources, capsys):
    path = tmp_path / "tiny_edit.edl"
    path.write_text(edit_edl())
    out_dir = tmp_path / "out"
    media_root = next(iter(sources.values())).parent
    code, out, err = reel(capsys, str(path), "--output-dir", str(out_dir), "--media-root", str(media_root),
                          "--handles", "1", *ENGINE)
    assert code == 0, err
    assert restored_movies(out_dir) == ["alpha.1-9.mov", "beta.0-5.mov"]  # handles clamped to beta's start
    check_conformed(Path(out.strip().splitlines()[-1]), edit_timeline(sources, with_paths=False))
    assert (out_dir / "tiny_edit.restored.edl").is_file()


def test_fcp_xml_edit_is_conformed_and_written_back_as_fcp_xml(tmp_path, sources, capsys):
    path = tmp_path / "tiny_edit.xml"
    otio.adapters.write_to_file(edit_timeline(sources), str(path), adapter_name="fcp_xml")
    code, out, err = reel(capsys, str(path), "--output-dir", str(tmp_path / "out"), *ENGINE)
    assert code == 0, err
    assert restored_movies(tmp_path / "out") == ["alpha.2-8.mov", "beta.1-4.mov"]
    check_conformed(Path(out.strip().splitlines()[-1]), otio.adapters.read_from_file(str(path)))
    assert (tmp_path / "out" / "tiny_edit.restored.xml").is_file()


def test_rerun_rewrites_nothing_already_restored(tmp_path, sources, capsys):
    path = tmp_path / "tiny_edit.otio"
    otio.adapters.write_to_file(edit_timeline(sources), str(path))
    argv = [str(path), "--output-dir", str(tmp_path / "out"), *ENGINE]
    assert reel(capsys, *argv)[0] == 0
    stamps = {p: os.stat(p).st_mtime_ns for p in (tmp_path / "out").glob("*.mov")}
    code, _out, err = reel(capsys, *argv)
    assert code == 0
    assert err.count("already restored") == 2
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps


def test_a_failing_range_does_not_stop_the_others_and_exits_1(tmp_path, sources, capsys):
    path = tmp_path / "tiny_edit.otio"
    otio.adapters.write_to_file(edit_timeline(sources), str(path))
    out_dir = tmp_path / "out"
    (out_dir / "alpha.2-8.mov").mkdir(parents=True)  # a folder where alpha's movie must go: alpha fails
    (out_dir / ".vividvr-reel").mkdir()
    (out_dir / ".vividvr-reel" / "owner.json").write_text(f'{{"timeline": "{path}"}}')
    code, out, err = reel(capsys, str(path), "--output-dir", str(out_dir), *ENGINE)
    assert code == 1
    assert "failed: alpha.2-8" in err and "restored: beta.1-4" in err
    assert (out_dir / "beta.1-4.mov").is_file()
    conformed = otio.adapters.read_from_file(out.strip().splitlines()[-1])
    names = [c.media_reference.target_url for c in conformed.find_clips()]
    assert "beta.1-4.mov" in names[1] and "alpha.mov" in names[0]  # alpha's clips keep their source media


def test_output_folder_with_someone_elses_files_is_refused(tmp_path, sources, capsys):
    path = tmp_path / "tiny_edit.otio"
    otio.adapters.write_to_file(edit_timeline(sources), str(path))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "grade.drp").write_text("not ours")
    code, _out, err = reel(capsys, str(path), "--output-dir", str(out_dir), *ENGINE)
    assert code == 2
    assert "holds files that are not this reel's" in err
    assert (out_dir / "grade.drp").read_text() == "not ours"


def test_reel_restore_through_a_daemon_gives_the_same_frames_as_in_process(tmp_path, capsys):
    from daemon_support import start_daemon

    sources = make_sources(tmp_path / "media")
    path = tmp_path / "tiny_edit.otio"
    timeline = edit_timeline(sources)
    otio.adapters.write_to_file(timeline, str(path))
    daemon = start_daemon(tmp_path)
    try:
        code, out, err = reel(capsys, str(path), "--output-dir", str(tmp_path / "out" / "reel"), *ENGINE,
                              "--daemon", daemon.address)
    finally:
        daemon.stop()
    assert code == 0, err
    assert restored_movies(tmp_path / "out" / "reel") == ["alpha.2-8.mov", "beta.1-4.mov"]
    check_conformed(Path(out.strip().splitlines()[-1]), timeline)


def test_a_5994_drop_frame_edl_across_a_minute_boundary_conforms_frame_exact(tmp_path, capsys):
    """FCPX writes drop-frame timecode with semicolons throughout; 01:00;00-;03 do not exist at 59.94 DF."""
    from fractions import Fraction

    from media_patterns import write_movie

    from vividvr_client.timecode import format_timecode, parse_timecode

    rate = Fraction(60000, 1001)
    media = tmp_path / "media"
    media.mkdir()
    write_movie(media / "gamma.mov", "prores_ks", rate, 30, (32, 24), pix_fmt="yuv422p10le", timecode="00:00:59;50")
    start = parse_timecode("00:00:59;50", rate)

    def tc(frame: int) -> str:
        return format_timecode(frame, rate, drop_frame=True).replace(":", ";")

    record = parse_timecode("01:00:00;00", rate)
    events = [(6, 10), (20, 5)]  # frames 6-15 cross 00:01:00;04, the first label after the minute
    lines = ["TITLE: df", "FCM: DROP FRAME"]
    for n, (first, count) in enumerate(events, 1):
        lines.append(f"{n:03d}  GAMMA    V     C        {tc(start + first)} {tc(start + first + count)}"
                     f" {tc(record)} {tc(record + count)}")
        record += count
    path = tmp_path / "df.edl"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = reel(capsys, str(path), "--output-dir", str(tmp_path / "out"), "--media-root", str(media),
                          "--edl-rate", "60000/1001", *ENGINE)
    assert code == 0, err
    timeline = otio.adapters.read_from_file(out.strip().splitlines()[-1])
    clips = list(timeline.find_clips())
    assert [shown_indices(c) for c in clips] == [list(range(6, 16)), list(range(20, 25))]


def test_a_resolve_otio_export_of_an_image_sequence_relinks_by_name_and_conforms_on_its_clocks(tmp_path, capsys):
    """Resolve's export: an EXR sequence at 24 fps (01:00:41:15 = frame 1000) cut into a 25 fps timeline.

    Its source range starts at 91046.6@25: the label 01:00:41:15 read on the 25 fps clock (91040)
    plus 6.6 frames, so the clip shows sequence frames 1006 onwards (75 frames touched).
    """
    from conftest import SHARED, require_shared
    from media_patterns import write_exr_sequence

    from vividvr_engine.media.images import read_image

    export = require_shared(SHARED / "assets" / "editorial" / "ayon__img_seq_embedded_tc.json")
    media = tmp_path / "media"
    write_exr_sequence(media, 1000, 101, size=(32, 24))
    for file in media.glob("plate.*.exr"):
        file.rename(media / file.name.replace("plate.", "output."))
    code, out, err = reel(capsys, str(export), "--output-dir", str(tmp_path / "out"), "--media-root", str(media),
                          *ENGINE)
    assert code == 0, err
    original = otio.adapters.read_from_file(str(export), "otio_json")
    conformed = otio.adapters.read_from_file(out.strip().splitlines()[-1])
    clip = conformed.find_clips()[0]
    ref = clip.media_reference
    assert isinstance(ref, otio.schema.ImageSequenceReference)
    assert clip.source_range == original.source_range
    assert ref.start_frame == 1006 and ref.available_range.start_time == otio.opentime.RationalTime(87405, 24)
    folder = Path(ref.target_url_base)
    restored = sorted(folder.glob(f"{ref.name_prefix}*{ref.name_suffix}"))
    assert len(restored) == 75
    for path in restored:
        number = int(path.name[len(ref.name_prefix):-len(ref.name_suffix)])
        assert read_index(read_image(str(path))) == number - 1000


def test_a_timeline_with_nothing_restorable_exits_1_listing_every_reason(tmp_path, capsys):
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(edit_timeline({"alpha": tmp_path / "gone.mov", "beta": tmp_path / "gone2.mov"},
                                              with_paths=True), str(path))
    code, _out, err = reel(capsys, str(path), "--output-dir", str(tmp_path / "out"), *ENGINE)
    assert code == 1
    assert "no clip of the timeline can be restored" in err and err.count("not found") == 3


def test_reel_through_a_daemon_refuses_local_only_flags_before_restoring_anything(tmp_path, sources, capsys):
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(edit_timeline(sources), str(path))
    code, _out, err = reel(capsys, str(path), "--output-dir", str(tmp_path / "out"), *ENGINE,
                           "--checkpoints", str(tmp_path), "--daemon", "127.0.0.1:1")
    assert code == 2 and "not available through the daemon: --checkpoints" in err
    assert not (tmp_path / "out").exists()
