"""The sampler's arithmetic: temporal windows, spatial tiles and overlap ownership.

Pure functions only, so every rule can be tested exhaustively. The rules are the ones the
authors' inference code applies (see ../shared/reference/README.md); where that code crashes
(odd latent sides) the planner picks the nearest size that works instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

VAE_SPATIAL = 8  # pixels per latent, spatially
VAE_TEMPORAL = 4  # frames per latent, temporally
PATCH = 2  # transformer patch size in latents, spatially and temporally


# --------------------------------------------------------------------------------------- sizes


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """Size `F.interpolate(scale_factor=scale)` produces: floor of each side times the scale."""
    return math.floor(height * scale), math.floor(width * scale)


def upscale_factor(height: int, width: int, upscale: float, short_side: int | None) -> float:
    """The resize factor: a target short side wins, else `upscale`, where 0 means short side 1024."""
    if short_side:
        return short_side / min(height, width)
    if upscale == 0:
        return 1024.0 / min(height, width)
    return float(upscale)


def generation_side(side: int) -> int:
    """The side the diffusion model works at: the next multiple of 16 (even latent sides).

    The reference rounds short sides to multiples of 8, which crashes when the latent side is odd;
    multiples of 16 are identical wherever the reference works.
    """
    unit = VAE_SPATIAL * PATCH
    return unit * math.ceil(side / unit)


def padded_window_frames(frames: int) -> int:
    """Frames after padding a window to the 8k+1 lengths CogVideoX 1.5 accepts."""
    unit = VAE_TEMPORAL * PATCH
    return frames + (-(frames - 1)) % unit


def latent_frames(frames: int) -> int:
    """Latent frames of an (already padded) window, including the leading padding latent."""
    count = (frames - 1) // VAE_TEMPORAL + 1
    return count + count % PATCH


# ------------------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class TemporalWindow:
    """One temporal window of a clip, in clip frame indices (0-based, stop exclusive)."""

    index: int
    start: int
    stop: int
    keep_start: int  # first frame this window contributes to the output
    keep_stop: int

    @property
    def frames(self) -> int:
        return self.stop - self.start

    @property
    def padded_frames(self) -> int:
        return padded_window_frames(self.frames)

    @property
    def latent_frames(self) -> int:
        return latent_frames(self.padded_frames)


def window_overlap(window_frames: int) -> int:
    """Frames shared by neighbouring windows."""
    return (window_frames - 1) // 2 + 1


def validate_window_frames(window_frames: int) -> None:
    if window_frames < 1 or (window_frames - 1) % (VAE_TEMPORAL * PATCH):
        raise ValueError(f"num_temporal_process_frames must be 8k+1 (9, 17, ..., 121), got {window_frames}")


def plan_windows(num_frames: int, window_frames: int) -> list[TemporalWindow]:
    """Split a clip into overlapping windows; each output frame is kept from exactly one window."""
    validate_window_frames(window_frames)
    if num_frames < 1:
        raise ValueError("a clip needs at least one frame")
    if num_frames <= window_frames:
        return [TemporalWindow(0, 0, num_frames, 0, num_frames)]
    overlap = window_overlap(window_frames)
    stride = window_frames - overlap
    count = (num_frames - window_frames) // stride + 1
    if (count - 1) * stride + window_frames < num_frames:
        count += 1
    windows = []
    for index in range(count):
        start = index * stride
        stop = min(start + window_frames, num_frames)
        keep_start = start + (overlap + 1) // 2 if index > 0 else start
        keep_stop = stop - overlap // 2 if index < count - 1 else stop
        windows.append(TemporalWindow(index, start, stop, keep_start, keep_stop))
    return windows


@dataclass(frozen=True)
class LatentCopy:
    """After each step, window `index` takes latent frame `local` from window `owner`'s `owner_local`."""

    local: int
    owner: int
    owner_local: int


def plan_latent_ownership(windows: list[TemporalWindow], window_frames: int) -> list[list[LatentCopy]]:
    """For each window, the latent frames it copies from the window that owns them.

    Latent ids skip the two leading latents of each window (they encode only its first frame).
    The owned ranges are the reference's; a later window's claim wins, and a latent nobody
    claims stays with the window that has it.
    """
    first_latents = 2
    overlap_latents = (window_overlap(window_frames) - 1) // VAE_TEMPORAL
    stride_latents = (window_frames - 1) // VAE_TEMPORAL - overlap_latents
    last = len(windows) - 1
    spans, owner = [], {}
    for w in windows:
        begin = stride_latents * w.index + 1
        end = begin + w.latent_frames - first_latents
        spans.append((begin, end))
        length = end - begin
        owned = length - (overlap_latents // 2 if w.index in (0, last) else overlap_latents)
        owned_begin = begin + (overlap_latents // 2 if w.index > 0 else 0)
        for latent_id in range(owned_begin, owned_begin + owned):
            owner[latent_id] = w.index
    copies: list[list[LatentCopy]] = []
    for w, (begin, end) in zip(windows, spans, strict=True):
        offset = begin - first_latents
        own = []
        for latent_id in range(begin, end):
            target = owner.get(latent_id, w.index)
            if target != w.index:
                target_offset = spans[target][0] - first_latents
                own.append(LatentCopy(latent_id - offset, target, latent_id - target_offset))
        copies.append(own)
    return copies


def decoded_frames_to_drop(decoded: int) -> int:
    """Leading frames to drop from a decoded window: 3 when the count is a multiple of 4."""
    return 3 if decoded % VAE_TEMPORAL == 0 else 0


# --------------------------------------------------------------------------------------- tiles


@dataclass(frozen=True)
class Tile:
    """One tile along one axis: `[start, stop)`, of which `[own_start, own_stop)` has weight 1."""

    start: int
    stop: int
    own_start: int
    own_stop: int


def plan_tiles(size: int, tile: int, stride: int) -> list[Tile]:
    """Tiles along one axis with the reference's start positions and 0/1 ownership weights."""
    if size < 1 or tile < 1 or stride < 1:
        raise ValueError(f"tiling needs positive sizes, got size={size} tile={tile} stride={stride}")
    if size <= tile:
        return [Tile(0, size, 0, size)]
    count = (size - tile) // stride + 1 + (1 if (size - tile) % stride else 0)
    stride = math.ceil((size - tile) / (count - 1))
    starts = list(range(0, size - tile + 1, stride))
    if (size - tile) % stride:
        starts.append(size - tile)
    pad = (tile - stride) / 2
    tiles = []
    for start in starts:
        stop = min(start + tile, size)
        own_stop = tile - math.floor(pad) if stop < size else tile
        own_start = math.ceil(pad) if start > 0 else 0
        if start % stride:
            own_start = tile - (math.floor(pad) + start % stride)
        tiles.append(Tile(start, stop, start + own_start, min(start + own_stop, stop)))
    return tiles


@dataclass(frozen=True)
class Tile2D:
    rows: Tile
    cols: Tile


def plan_tiles_2d(height: int, width: int, tile: int, stride: int) -> list[Tile2D]:
    """Row-major 2-D tiles, the order captions and prompts are matched in."""
    return [Tile2D(r, c) for r in plan_tiles(height, tile, stride) for c in plan_tiles(width, tile, stride)]
