"""How one denoising step is split over workers, and what they must exchange afterwards.

Pure functions only. A step evaluates every (window, tile) unit in a fixed order (the order the
random draws follow). Units of one latent shape are grouped into batches (one forward pass each)
the same way whatever the worker count, and the batches are dealt out to workers in contiguous
runs, so a worker mostly holds whole windows and results never depend on how many workers ran.

After a step a worker knows only the owned regions of its own units' tiles. Every worker that
touches a window needs that whole window (to join its tiles and for the next step), and windows
copy the latent frames other windows own: `plan_exchange` lists exactly those pieces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from vividvr_engine.planning import LatentCopy

Unit = tuple[int, int]  # (window index, tile index)


def plan_batches(unit_shapes: Sequence[tuple[Unit, tuple[int, ...]]], batch_tiles: int) -> list[list[Unit]]:
    """Consecutive units of equal latent shape, at most `batch_tiles` per batch, in draw order."""
    if batch_tiles < 1:
        raise ValueError(f"batch_tiles must be >= 1, got {batch_tiles}")
    batches: list[list[Unit]] = []
    previous = None
    for unit, shape in unit_shapes:
        if batches and shape == previous and len(batches[-1]) < batch_tiles:
            batches[-1].append(unit)
        else:
            batches.append([unit])
        previous = shape
    return batches


def split_contiguous(count: int, parts: int) -> list[range]:
    """`parts` contiguous ranges covering 0..count-1 whose lengths differ by at most one."""
    return [range(count * p // parts, count * (p + 1) // parts) for p in range(parts)]


@dataclass(frozen=True, eq=False)
class Sharding:
    """Which worker evaluates which batches, and which windows each worker keeps whole."""

    batches: list[list[Unit]]
    batches_by_rank: list[list[int]]  # batch indices, ascending

    @property
    def world(self) -> int:
        return len(self.batches_by_rank)

    @cache  # noqa: B019 - a run holds one Sharding; its answers never change
    def units(self, rank: int) -> list[Unit]:
        return [unit for b in self.batches_by_rank[rank] for unit in self.batches[b]]

    @cache  # noqa: B019
    def touched(self, rank: int) -> list[int]:
        """Windows `rank` evaluates at least one tile of: it keeps their whole state."""
        return sorted({window for window, _ in self.units(rank)})

    @cache  # noqa: B019
    def home(self, window: int) -> int:
        """The worker that stores a window's state (the lowest rank touching it)."""
        return min(rank for rank in range(self.world) if window in self.touched(rank))

    def evaluator(self) -> dict[Unit, int]:
        return {unit: rank for rank in range(self.world) for unit in self.units(rank)}


def plan_sharding(batches: list[list[Unit]], workers: int) -> Sharding:
    if not 1 <= workers <= len(batches):
        raise ValueError(f"{workers} workers for {len(batches)} batches of tiles")
    return Sharding(batches, [list(r) for r in split_contiguous(len(batches), workers)])


@dataclass(frozen=True)
class Piece:
    """One thing sent after a step: the owned region of a tile, or one latent frame of a window.

    Either way both the new latents and the new x0 prediction travel.
    """

    kind: str  # "tile" or "frame"
    window: int
    index: int  # tile index, or latent frame index within the window


def plan_exchange(sharding: Sharding, ownership: list[list[LatentCopy]]) -> dict[tuple[int, int], list[Piece]]:
    """(source rank, destination rank) -> pieces, in an order both sides derive alike."""
    touched = [set(sharding.touched(rank)) for rank in range(sharding.world)]
    messages: dict[tuple[int, int], list[Piece]] = {}
    for (window, tile), source in sharding.evaluator().items():
        for destination in range(sharding.world):
            if destination != source and window in touched[destination]:
                messages.setdefault((source, destination), []).append(Piece("tile", window, tile))
    for destination in range(sharding.world):
        needed = sorted(
            {
                (copy.owner, copy.owner_local)
                for window in touched[destination]
                for copy in ownership[window]
                if copy.owner not in touched[destination]
            }
        )
        for owner, frame in needed:
            messages.setdefault((sharding.home(owner), destination), []).append(Piece("frame", owner, frame))
    return {key: sorted(pieces, key=lambda p: (p.kind, p.window, p.index)) for key, pieces in sorted(messages.items())}
