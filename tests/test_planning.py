"""The window, tile and ownership arithmetic, checked exhaustively over the sizes users hit."""

from __future__ import annotations

import pytest

from vividvr_engine.planning import (
    generation_side,
    latent_frames,
    padded_window_frames,
    plan_latent_ownership,
    plan_tiles,
    plan_windows,
    scaled_size,
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


def test_generation_sides_are_multiples_of_16_and_never_smaller():
    for side in range(8, 2001):
        gen = generation_side(side)
        assert gen % 16 == 0 and side <= gen < side + 16


def test_scaled_size_is_floor_of_side_times_scale():
    assert scaled_size(32, 48, 2.0) == (64, 96)
    assert scaled_size(360, 640, 1024 / 360) == (1024, 1820)


def test_invalid_window_sizes_are_rejected():
    for bad in (0, 8, 10, 120):
        with pytest.raises(ValueError, match="8k\\+1"):
            plan_windows(10, bad)
