"""Reading edits through the OTIO adapters, relinking, and planning restores (`reel restore --dry-run`)."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from conftest import SHARED, require_shared
from reel_support import edit_edl, edit_timeline, make_sources

from vividvr_cli.main import main
from vividvr_editorial.errors import EditorialError
from vividvr_editorial.planning import merge_spans, plan_reel
from vividvr_editorial.reading import read_timeline
from vividvr_editorial.relink import MediaIndex

EDITORIAL = SHARED / "assets" / "editorial"
# EDLs carry no rate; these are the rates their headers state
EDL_RATES = {"losslesscut__cmx3600_fcpx_edlx_5994DF.edl": Fraction(60000, 1001),
             "edlgenius__070816_EG101_HEISTS_ROUGH_CUT_SOURCES_PART_1.edl": Fraction(30000, 1001)}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_sources(tmp_path_factory.mktemp("media"))


@pytest.mark.parametrize("name", sorted(p.name for p in EDITORIAL.glob("*")) if EDITORIAL.is_dir() else ["absent"])
def test_every_editorial_file_gives_a_plan_with_a_reason_for_each_clip_or_a_clear_error(name):
    path = require_shared(EDITORIAL / name)
    try:
        timeline = read_timeline(path, EDL_RATES.get(name, Fraction(24)))
    except EditorialError as exc:  # what the adapter could not read, said with the file and the adapter
        assert str(path) in str(exc) and "adapter cannot read it" in str(exc)
        return
    plan = plan_reel(timeline, MediaIndex.scan([SHARED / "assets" / "video"]), handles=12)
    not_clips = (otio.schema.Gap, otio.schema.Transition)
    items = [i for t in timeline.video_tracks() for i in t if not isinstance(i, not_clips)]
    assert len(plan.uses) + len(plan.skipped) == len(items)  # nothing dropped silently
    assert all(s.reason for s in plan.skipped)


def test_merge_spans_joins_overlapping_and_touching_uses_once():
    spans = [(10, 20, "a"), (30, 40, "b"), (15, 25, "c"), (26, 29, "d"), (50, 60, "a"), (12, 14, "a")]
    assert merge_spans(spans) == [(10, 40, ("a", "c", "d", "b")), (50, 60, ("a",))]


def test_dry_run_prints_the_plan_as_json_and_writes_nothing(tmp_path, sources, capsys):
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(edit_timeline(sources), str(path))
    code = main(["reel", "restore", str(path), "--output-dir", str(tmp_path / "out"), "--handles", "2",
                 "--dry-run", "--json"])
    plan = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(r["name"], r["frames"]["timecode"]) for r in plan["ranges"]] == [
        ("alpha.0-10", "01:00:00:00"), ("beta.0-6", "02:00:00:00")]
    assert plan["restored_frames"] == 11 + 7 and plan["edited_frames"] == 13
    assert not (tmp_path / "out").exists()


def test_speed_changed_reversed_nested_and_generator_clips_are_skipped_with_reasons(sources):
    timeline = edit_timeline(sources)
    track = timeline.video_tracks()[0]
    track[0].effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    track[1].effects.append(otio.schema.LinearTimeWarp(time_scalar=-1.0))
    track.append(otio.schema.Clip(name="title", media_reference=otio.schema.GeneratorReference(
        generator_kind="SolidColor"), source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(5, 24))))
    nested = otio.schema.Stack(name="compound")
    track.append(nested)
    plan = plan_reel(timeline, MediaIndex.scan([]))
    reasons = {s.clip: s.reason for s in plan.skipped}
    assert "speed change" in reasons["alpha"]
    assert "reversed" in reasons["beta"]
    assert "generator" in reasons["title"]
    assert "nested" in reasons["compound"]
    assert [r.name for r in plan.ranges] == ["alpha.4-8"]  # the plain third clip is still planned


def test_two_media_files_matching_one_reel_are_named_in_the_reason(tmp_path, sources):
    edl = tmp_path / "edit.edl"
    edl.write_text(edit_edl())
    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        root.mkdir()
        shutil.copy(sources["alpha"], root / "alpha.mov")
    shutil.copy(sources["beta"], roots[0] / "beta.mov")
    plan = plan_reel(read_timeline(edl), MediaIndex.scan(roots))
    reasons = [s.reason for s in plan.skipped]
    assert len(reasons) == 2 and [r.name for r in plan.ranges] == ["beta.1-4"]  # both alpha cuts, not beta
    reason = reasons[0]
    assert "2 media files match reel ALPHA and its timecode" in reason and "narrower --media-root" in reason


def test_missing_media_and_a_range_outside_its_media_are_reasons_naming_the_clip(tmp_path, sources):
    timeline = edit_timeline(sources)
    clip = timeline.video_tracks()[0][1]
    clip.source_range = otio.opentime.TimeRange(clip.source_range.start_time + otio.opentime.RationalTime(8, 24),
                                                clip.source_range.duration)
    timeline.video_tracks()[0][2].media_reference = otio.schema.ExternalReference(target_url="/gone/alpha_v2.mov")
    plan = plan_reel(timeline, MediaIndex.scan([]))
    reasons = {s.item: s.reason for s in plan.skipped}
    assert "outside its media" in reasons[1] and "beta.mov" in reasons[1]
    assert "'/gone/alpha_v2.mov' not found" in reasons[2] and "--media-root" in reasons[2]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [("edit.txt", "hello", "unsupported timeline format .txt"),
     ("edit.xml", "<xmeml><broken>", "the fcp_xml adapter cannot read it"),
     ("edit.edl", "001  X  V  C  garbage\n", "the cmx_3600 adapter cannot read it")],
)
def test_unreadable_or_unsupported_timelines_get_a_clear_error(tmp_path, capsys, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    code = main(["reel", "restore", str(path), "--output-dir", str(tmp_path / "out"), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and str(path) in err


def test_an_adapter_that_is_not_installed_says_which_package_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(otio.adapters, "available_adapter_names", lambda: ["otio_json"])
    with pytest.raises(EditorialError, match="pip install otio-aaf-adapter"):
        read_timeline(tmp_path / "edit.aaf")


def test_fcpx_edl_x_with_semicolon_drop_frame_and_a_reel_table_is_read_at_5994():
    path = require_shared(EDITORIAL / "losslesscut__cmx3600_fcpx_edlx_5994DF.edl")
    clips = list(read_timeline(path, Fraction(60000, 1001)).find_clips())
    assert len(clips) == 251
    assert clips[0].source_range.start_time.to_timecode() == "10:35:42;53"
    assert "TOURISMCARES_VIDEO_MAVIC3PRO_6.MOV" in {c.name for c in clips}  # named from the reel table
