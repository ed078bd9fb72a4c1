"""Finding Resolve the documented ways, and the adapter's refusals when Resolve ignores a call."""

from __future__ import annotations

import sys
import types
from fractions import Fraction
from pathlib import Path

import pytest
from fakes.resolve import FakeBmd, FakeResolve
from media_patterns import write_movie
from resolve_support import new_project

from vividvr_resolve.host import HostError, ResolveHost, find_resolve


def test_resolve_is_found_as_global_then_bmd_then_davinciresolvescript(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first, second, third = FakeResolve(), FakeResolve(), FakeResolve()
    assert find_resolve({"resolve": first, "bmd": FakeBmd(second)}) is first
    assert find_resolve({"bmd": FakeBmd(second)}) is second
    module = types.ModuleType("DaVinciResolveScript")
    module.scriptapp = lambda name: third  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", module)
    assert find_resolve({"bmd": FakeBmd(None)}) is third
    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", None)
    with pytest.raises(HostError, match="run this from Workspace > Scripts inside Resolve"):
        find_resolve({})


def test_a_dropped_append_is_an_error_not_silence(tmp_path: Path) -> None:
    resolve, timeline = new_project(Fraction(24))
    movie = write_movie(tmp_path / "p.mov", "mjpeg", Fraction(24), 20, pix_fmt="yuvj420p")
    clip = resolve.project.pool.ImportMedia([str(movie)])[0]
    timeline.fake_place(clip, 0, 10, 86400)
    with pytest.raises(HostError, match="dropped the restored clip at frame 86405 on V1"):
        ResolveHost(resolve).append(timeline, clip, 0, 5, 1, 86405)


def test_append_to_another_timeline_leaves_the_current_one_current(tmp_path: Path) -> None:
    resolve, current = new_project(Fraction(24))
    other = resolve.project.pool.CreateEmptyTimeline("other")
    movie = write_movie(tmp_path / "p.mov", "mjpeg", Fraction(24), 20, pix_fmt="yuvj420p")
    clip = resolve.project.pool.ImportMedia([str(movie)])[0]
    placed = ResolveHost(resolve).append(other, clip, 2, 7, 2, 86400)
    assert resolve.project.GetCurrentTimeline() is current
    assert placed.GetTrackTypeAndIndex() == ["video", 2] and placed.GetDuration() == 5
