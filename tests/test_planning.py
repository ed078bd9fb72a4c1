"""The window, tile and ownership arithmetic, checked exhaustively over the sizes users hit."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from vividvr_engine.planning import (
    generation_side,
    latent_frames,
    padded_window_frames,
    plan_latent_ownership,
    plan_resize,
    plan_tiles,
    plan_windows,
)

WINDOW_SIZES = [9, 17, 25, 33, 49, 121]


@pytest.mark.parametrize("window_frames", WINDOW_SIZES)
def test_kept_frames_partition_every_clip_length(window_frames):
    for num_frames in range(1, 301):
        windows = plan_windows(num_frames, window_frames)
        assert windows[0].start == 0 and windows[-1].stop == num_frames
        position = 0
        for w in windows:
            assert 0 < w.frames <= window_frames
            assert w.start <= w.keep_start < w.keep_stop <= w.stop
            assert w.keep_start == position, (num_frames, window_frames, w)
            position = w.keep_stop
        assert position == num_frames


@pytest.mark.parametrize("window_frames", WINDOW_SIZES)
def test_windows_match_the_reference_counts_and_strides(window_frames):
    overlap = (window_frames - 1) // 2 + 1
    stride = window_frames - overlap
    for num_frames in range(1, 301):
        windows = plan_windows(num_frames, window_frames)
        if num_frames <= window_frames:
            assert len(windows) == 1
            continue
        count = (num_frames - window_frames) // stride + 1
        count += (count - 1) * stride + window_frames < num_frames
        assert len(windows) == count
        assert [w.start for w in windows] == [i * stride for i in range(count)]


@pytest.mark.parametrize("window_frames", WINDOW_SIZES)
def test_latent_ownership_copies_stay_inside_both_windows(window_frames):
    for num_frames in range(1, 301):
        windows = plan_windows(num_frames, window_frames)
        copies = plan_latent_ownership(windows, window_frames)
        assert len(copies) == len(windows)
        for window, own in zip(windows, copies, strict=True):
            locals_ = [c.local for c in own]
            assert len(set(locals_)) == len(locals_)
            for c in own:
                assert c.owner != window.index
                assert 2 <= c.local < window.latent_frames
                assert 2 <= c.owner_local < windows[c.owner].latent_frames


def test_latent_ownership_matches_the_reference_example():
    # Reference note: 41-frame windows, 33-frame overlap... here the README's own scheme for 17/9.
    windows = plan_windows(33, 17)
    copies = plan_latent_ownership(windows, 17)
    # Window 0 covers latent ids 1..4 (locals 2..5); ids 4 belong to window 1.
    assert [(c.local, c.owner, c.owner_local) for c in copies[0]] == [(5, 1, 3)]
    assert [(c.local, c.owner, c.owner_local) for c in copies[1]] == [(2, 0, 4), (5, 2, 3)]
    assert [(c.local, c.owner, c.owner_local) for c in copies[2]] == [(2, 1, 4)]


def test_window_padding_and_latents():
    assert [padded_window_frames(n) for n in (1, 2, 8, 9, 10, 17, 121)] == [1, 9, 9, 9, 17, 17, 121]
    assert [latent_frames(n) for n in (1, 9, 17, 121)] == [2, 4, 6, 32]


@pytest.mark.parametrize("tile", [8, 16, 64, 128])
def test_tile_ownership_covers_every_position(tile):
    stride = tile // 2
    for size in range(1, 251):  # latent sides for 8..2000 pixels
        tiles = plan_tiles(size, tile, stride)
        covered = [0] * size
        for t in tiles:
            assert 0 <= t.start < t.stop <= size and t.stop - t.start <= tile
            assert t.start <= t.own_start < t.own_stop <= t.stop
            for i in range(t.own_start, t.own_stop):
                covered[i] += 1
        assert min(covered) >= 1, (size, tile)
        assert tiles[0].start == 0 and tiles[-1].stop == size


def test_tiles_match_the_reference_layout():
    # 12 latent columns, tile 8, stride 4: starts 0 and 4, each owning its half.
    assert [(t.start, t.stop, t.own_start, t.own_stop) for t in plan_tiles(12, 8, 4)] == [(0, 8, 0, 6), (4, 12, 6, 12)]
    # 13 columns: three tiles, stride recomputed to 3, pad 2.5; the last tile starts off-stride
    # (5 % 3 = 2), so it owns from 8 - (2 + 2) = 4 in, i.e. column 9.
    assert [(t.start, t.own_start, t.own_stop) for t in plan_tiles(13, 8, 4)] == [(0, 0, 6), (3, 6, 9), (5, 9, 13)]


def readme_generation_side(side: int, tile_size: int) -> int:
    """../shared/reference/README.md, "The restoration algorithm" step 2, transcribed literally:
    "a side shorter than `tile_size * 8` is rounded up to a multiple of 8; a longer side is kept",
    plus the two departures the engine documents where the reference crashes or resizes: an odd
    latent side below a tile goes up to the next multiple of 16, and a kept side that the VAE
    cannot take (not a multiple of 8) is padded up to one."""
    if side < tile_size * 8:
        rounded = side
        while rounded % 8 != 0:
            rounded += 1
        if (rounded // 8) % 2 == 1:  # odd latent side: the reference crashes
            while rounded % 16 != 0:
                rounded += 1
        return rounded
    kept = side
    while kept % 8 != 0:
        kept += 1
    return kept


def test_generation_size_follows_the_reference_rule_for_every_side_and_tile_size():
    for tile_size in range(8, 129):
        for side in range(8, 2001):
            assert generation_side(side, tile_size) == readme_generation_side(side, tile_size), (side, tile_size)


def test_sides_of_a_whole_tile_are_kept_even_when_not_multiples_of_16():
    # README: 200x328 output, tile size 16 -> generated at 200x328 (latents 25x41), not 208x336.
    assert (generation_side(200, 16), generation_side(328, 16)) == (200, 328)
    assert generation_side(120, 16) == 128  # shorter than a tile (128 px): latent 15 would be odd
    assert generation_side(72, 8) == 72  # latent 9 >= tile 8: whole tiles, odd latent side kept


def test_a_short_side_is_met_exactly_and_the_other_side_keeps_the_aspect_ratio():
    for target in (16, 480, 720, 1080, 1024, 2160):
        for short in range(16, 2200, 1 if target == 1080 else 37):
            for long in (short, short + 1, (short * 16) // 9, (short * 4) // 3, short * 2 + 1):
                for height, width in ((short, long), (long, short)):
                    resize = plan_resize(height, width, 0.0, target)
                    assert resize.scale_factor is None  # resampled to the exact size
                    out = (resize.height, resize.width)
                    assert min(out) == target, (height, width, target, out)
                    other = max(out)
                    exact = Fraction(long * target, short)
                    assert abs(other - exact) <= Fraction(1, 2) and (other - exact != Fraction(-1, 2)), out
                    assert (out[0] - out[1]) * (height - width) >= 0  # orientation kept


def test_short_sides_that_flooring_turned_into_n_minus_1():
    # 1070 * (1080 / 1070) is 1079.999..., which a scale factor floors to 1079
    assert (plan_resize(1070, 1902, 0.0, 1080).height, plan_resize(1902, 1070, 0.0, 1080).width) == (1080, 1080)
    assert plan_resize(39, 52, 0.0, 720).height == 720
    assert (plan_resize(1080, 1920, 0.0, 720).height, plan_resize(1080, 1920, 0.0, 720).width) == (720, 1280)


def test_upscale_keeps_the_reference_factor_arithmetic_even_where_it_floors_to_1023():
    for height in range(16, 1200, 7):
        for width in (height, height + 5, height * 2 - 1):
            factor = 1024 / min(height, width)
            resize = plan_resize(height, width, 0.0, None)
            assert resize == type(resize)(math.floor(height * factor), math.floor(width * factor), factor)
            assert plan_resize(height, width, 2.5, None) == type(resize)(
                math.floor(height * 2.5), math.floor(width * 2.5), 2.5
            )
    assert plan_resize(49, 64, 0.0, None).height == 1023  # as the reference does
    default = plan_resize(360, 640, 0.0, None)
    assert (default.height, default.width) == (1024, 1820)


def test_invalid_window_sizes_are_rejected():
    for bad in (0, 8, 10, 120):
        with pytest.raises(ValueError, match="8k\\+1"):
            plan_windows(10, bad)
