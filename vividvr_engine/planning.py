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


REFERENCE_SHORT_SIDE = 1024  # `upscale 0`: the reference's default short side


@dataclass(frozen=True)
class Resize:
    """How a source frame becomes a control frame: the output size and how to resample to it.

    `scale_factor` set: the reference's `F.interpolate(scale_factor=...)`, whose size is the
    floor of each side times the factor and whose sampling positions follow the factor; `None`:
    resample to exactly `height` x `width` (`F.interpolate(size=...)`).
    """

    height: int
    width: int
    scale_factor: float | None


def plan_resize(height: int, width: int, upscale: float, short_side: int | None) -> Resize:
    """Output size of a `height` x `width` source.

    A target short side is met exactly: that side becomes `short_side` and the other keeps the
    aspect ratio, rounded to the nearest pixel (halves up). A factor (`upscale`, or 0 for the
    reference's short side 1024 via the factor 1024 / short side) keeps the reference's
    arithmetic and sampling, even where flooring leaves 1023.
    """
    if short_side:
        short, long = min(height, width), max(height, width)
        other = (2 * long * short_side + short) // (2 * short)  # round(long * short_side / short), halves up
        return Resize(short_side, other, None) if height <= width else Resize(other, short_side, None)
    factor = REFERENCE_SHORT_SIDE / min(height, width) if upscale == 0 else float(upscale)
    return Resize(math.floor(height * factor), math.floor(width * factor), factor)


def generation_side(side: int, tile_size: int) -> int:
    """The side the diffusion model works at, for an output side of `side` pixels.

    The reference's rule (../shared/reference/README.md): a side shorter than a pixel tile
    (`tile_size * 8`) is rounded up to a multiple of 8; a longer side is kept, since its latent
    tiles are whole (`tile_size` latents, even). Where the reference crashes we differ: a short
    side whose latent side would be odd (one partial tile the transformer cannot patch) is
    rounded up to a multiple of 16 instead, and a long side that is not a multiple of 8 (the VAE's
    stride; the reference resizes it) is padded to the next multiple of 8.
    """
    if side < tile_size * VAE_SPATIAL:
        unit = VAE_SPATIAL * PATCH
        return unit * math.ceil(side / unit)
    return VAE_SPATIAL * math.ceil(side / VAE_SPATIAL)


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
