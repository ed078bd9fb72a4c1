"""The Vivid-VR restoration pipeline, top to bottom.

1. Prepare each temporal window in turn (streaming the clip, one window of pixels at a time):
   resize, caption per tile, encode prompts, VAE-encode the control latents, draw the noise.
2. Denoise all windows in lockstep: per step, per window, per latent tile, a guided evaluation
   of controlnet + transformer and one solver step; tiles are joined, then overlapping windows
   copy the latents each latent frame's owner computed.
3. Decode window by window, trim to the frames each window owns, colour-fix against the resized
   input, and hand each finished segment to the sink.

Random draws follow the reference exactly (one CPU generator: per window the VAE sample then
the initial noise; then per step, window and tile the solver's draws), so outputs match the
authors' code on the same weights.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from safetensors import SafetensorError

from vividvr_engine import __version__, distributed
from vividvr_engine.captioning import (
    NEGATIVE_PROMPT,
    Captioner,
    CogVLM2Captioner,
    FixedCaptioner,
    prompt_for,
)
from vividvr_engine.checkpoints import CAPTIONER_DIR, CheckpointPaths, VividVRModels, load_models
from vividvr_engine.colorfix import color_fix
from vividvr_engine.distributed import Comm
from vividvr_engine.engine import CancelToken, ClipSource, FrameSink, Progress, ProgressCallback
from vividvr_engine.errors import Cancelled, CheckpointError, SettingsError
from vividvr_engine.guidance import solver_step
from vividvr_engine.latent_store import LatentStore
from vividvr_engine.planning import (
    PATCH,
    VAE_SPATIAL,
    VAE_TEMPORAL,
    Resize,
    TemporalWindow,
    Tile2D,
    decoded_frames_to_drop,
    generation_side,
    plan_latent_ownership,
    plan_tiles_2d,
    plan_windows,
)
from vividvr_engine.settings import RestoreSettings
from vividvr_engine.sharding import Piece, Unit, plan_batches, plan_exchange, plan_sharding
from vividvr_engine.textfix import TextFixer

MAX_TEXT_TOKENS = 226
ROPE_MAX_GRID = 300 // PATCH
DEFAULT_LATENT_RAM_BUDGET = 4 << 30

Trace = Callable[[str, torch.Tensor], None]

log = logging.getLogger("vividvr.engine")


def default_checkpoint_root() -> Path:
    """`$VIVIDVR_CHECKPOINTS`, else the per-user data folder (e.g. ~/.local/share/vividvr/checkpoints)."""
    from platformdirs import user_data_path

    env = os.environ.get("VIVIDVR_CHECKPOINTS")
    return Path(env) if env else user_data_path("vividvr") / "checkpoints"


@dataclass(frozen=True)
class Geometry:
    """Sizes of one restoration: output (= resized input), generation (`planning.generation_side`), latent."""

    resize: Resize
    gen_height: int
    gen_width: int

    @property
    def out_height(self) -> int:
        return self.resize.height

    @property
    def out_width(self) -> int:
        return self.resize.width

    @property
    def latent_height(self) -> int:
        return self.gen_height // VAE_SPATIAL

    @property
    def latent_width(self) -> int:
        return self.gen_width // VAE_SPATIAL


def plan_geometry(height: int, width: int, settings: RestoreSettings) -> Geometry:
    out_h, out_w = settings.output_size(height, width)  # validates the size
    tile = settings.tile_size
    return Geometry(settings.resize_for(height, width), generation_side(out_h, tile), generation_side(out_w, tile))


class VividVREngine:
    """The loaded models on one device, in one dtype and offload mode; serves jobs of any settings.

    The captioner and the text fixer are loaded the first time a job needs them (a job with a
    fixed caption needs no captioner) and kept for later jobs.
    """

    name = "vividvr"

    def __init__(
        self,
        models: VividVRModels,
        captioner: Captioner | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        latent_ram_budget: int = DEFAULT_LATENT_RAM_BUDGET,
        text_fixer: TextFixer | None = None,
        *,
        offload: str = "none",
        checkpoints: CheckpointPaths | None = None,
        batch_tiles: int = 1,
        compile_blocks: bool = False,
    ) -> None:
        """`batch_tiles`: (window, tile) evaluations per forward pass (more is faster, needs memory).
        `compile_blocks`: `torch.compile` each transformer block (slow first step, faster later ones).
        `checkpoints`: where `models` came from; workers on other devices load them from there."""
        self.models = models
        self.batch_tiles = batch_tiles
        self.compile_blocks = compile_blocks
        self.last_run: RunStats | None = None
        self.captioner = captioner
        self.device = torch.device(device)
        self.dtype = dtype
        self.latent_ram_budget = latent_ram_budget
        self.offload = offload
        self.text_fixer = text_fixer
        self.checkpoints = checkpoints
        resident = (models.controlnet, models.transformer)
        if self.offload == "none":
            resident += (models.text_encoder, models.vae)
        for model in resident:
            model.to(self.device)
        models.vae.enable_tiling()
        if compile_blocks:
            for block in (*models.transformer.base.transformer_blocks, *models.controlnet.transformer_blocks):
                block.compile()

    @contextmanager
    def on_device(self, model: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """Bring an offloaded model to the device for one phase, then send it back."""
        if self.offload == "none" or self.device.type == "cpu":
            yield model
            return
        model.to(self.device)
        try:
            yield model
        finally:
            model.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    @classmethod
    def create(
        cls,
        checkpoints: Path | None = None,
        device: str | None = None,
        offload: str = "none",
        *,
        dtype: torch.dtype | None = None,
        batch_tiles: int = 1,
        compile_blocks: bool = False,
    ) -> VividVREngine:
        """Validate the checkpoints, then load them: bfloat16 on a GPU and float32 on the CPU by default."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
        paths = CheckpointPaths.from_root(checkpoints or default_checkpoint_root())
        paths.validate()
        models = load_models(paths, dtype)
        return cls(models, None, device, dtype, offload=offload, checkpoints=paths, batch_tiles=batch_tiles,
                   compile_blocks=compile_blocks)

    def output_size(self, height: int, width: int, settings: RestoreSettings) -> tuple[int, int]:
        return settings.output_size(height, width)

    def captioner_for(self, settings: RestoreSettings) -> Captioner:
        """The job's fixed caption, else the captioning model (loaded once, on first need)."""
        if settings.caption:
            return FixedCaptioner(settings.caption)
        if self.captioner is None:  # checks the folder first, then starts CogVLM2-Video in its own process
            paths = self.checkpoints
            if paths is None:
                raise CheckpointError("captioning needs a checkpoint folder; or give a caption (--caption TEXT)")
            folder = paths.captioner or paths.cogvideox.parent / CAPTIONER_DIR
            self.captioner = CogVLM2Captioner.from_pretrained(folder, device=str(self.device))
        return self.captioner

    def text_fixer_for(self, settings: RestoreSettings) -> TextFixer | None:
        """The text fixer when the job asks for it (loaded once, on first need)."""
        if not settings.textfix:
            return None
        if self.text_fixer is None:
            if self.checkpoints is None:
                raise CheckpointError("the text fix needs a checkpoint folder holding RealESRGAN/ and easyocr/")
            self.text_fixer = TextFixer.from_checkpoints(self.checkpoints.cogvideox.parent, self.device)
        return self.text_fixer

    # ------------------------------------------------------------------------------ restore

    @torch.no_grad()
    def restore(
        self,
        clip: ClipSource,
        sink: FrameSink,
        settings: RestoreSettings,
        progress: ProgressCallback | None = None,
        *,
        state_dir: Path | None = None,
        first_unwritten_frame: int = 0,
        cancel: CancelToken | None = None,
        trace: Trace | None = None,
        devices: Sequence[str] | None = None,
    ) -> None:
        """`devices`: spread the work over these devices (`devices[0]` is this engine's own), one
        worker process each; the frames are identical to a single process's."""
        info = ClipInfo(clip.num_frames, clip.height, clip.width, Fraction(clip.fps))
        devices = self.workers_for(info, settings, devices)
        job = (clip, sink, settings, progress, state_dir, first_unwritten_frame, cancel, trace)
        if len(devices) == 1 and not distributed.launched_by_torchrun():
            self._restore(Comm(), *job)
            return
        with distributed.start_workers(devices) as comm:
            self._restore(comm, *job)

    def workers_for(self, clip: ClipInfo, settings: RestoreSettings, devices: Sequence[str] | None) -> list[str]:
        """The devices a job on `clip` will use: validated, at most one per batch of tiles."""
        if not devices:
            return [str(self.device)]
        devices = distributed.validate_devices(devices)
        first = torch.device(devices[0])
        if first.type != self.device.type or (self.device.index is not None and first != self.device):
            raise SettingsError(f"the first of --devices ({devices[0]}) must be this engine's device ({self.device})")
        if len(devices) > 1 and self.checkpoints is None:
            raise SettingsError("spreading over devices needs an engine made by VividVREngine.create")
        return distributed.usable_devices(devices, len(plan_step_batches(clip, settings, self.batch_tiles)))

    def _restore(self, comm, clip, sink, settings, progress, state_dir, first_unwritten_frame, cancel, trace) -> None:
        store = LatentStore(state_dir, self.latent_ram_budget, persistent=state_dir is not None)
        try:
            windows = len(plan_windows(clip.num_frames, settings.num_temporal_process_frames))
            manifest = _resume_point(store, _fingerprint(clip, settings, self), settings, windows)
            job = Job(
                settings=settings,
                clip=ClipInfo(clip.num_frames, clip.height, clip.width, Fraction(clip.fps)),
                manifest=manifest,
                first_unwritten_frame=first_unwritten_frame,
                state_dir=None if state_dir is None else str(state_dir),
                checkpoints=self.checkpoints,
                dtype=self.dtype,
                offload=self.offload,
                latent_ram_budget=self.latent_ram_budget,
                batch_tiles=self.batch_tiles,
                compile_blocks=self.compile_blocks,
            )
            comm.broadcast(job)
            run = _Run(self, job, comm, store, progress, cancel, trace)
            run.run(clip, sink)
        finally:
            store.close()


@dataclass(frozen=True)
class ClipInfo:
    """What every worker must know of the clip; only rank 0 reads its frames."""

    num_frames: int
    height: int
    width: int
    fps: Fraction


@dataclass(frozen=True)
class Job:
    """One restoration as rank 0 hands it to the workers."""

    settings: RestoreSettings
    clip: ClipInfo
    manifest: dict
    first_unwritten_frame: int
    state_dir: str | None
    checkpoints: CheckpointPaths | None
    dtype: torch.dtype
    offload: str
    latent_ram_budget: int
    batch_tiles: int
    compile_blocks: bool


@dataclass(frozen=True)
class RunStats:
    """What the last restore cost each worker (rank order), for benchmarks and the daemon's status."""

    devices: list[str]
    step_bytes_sent: list[int]  # step exchanges only, summed over `steps_run`
    peak_memory_bytes: list[int]  # CUDA peak allocated; 0 on the CPU
    steps_run: int
    latent_state_bytes: int  # latents + x0 of every window: what a step would move without sharding


def serve_job(comm: Comm, device: str) -> None:
    """A worker (rank > 0): load the models rank 0 names, then do this rank's share of its job."""
    job: Job = comm.broadcast()
    models = load_models(job.checkpoints, job.dtype)
    engine = VividVREngine(models, None, device, job.dtype, job.latent_ram_budget, offload=job.offload,
                           checkpoints=job.checkpoints, batch_tiles=job.batch_tiles,
                           compile_blocks=job.compile_blocks)
    state_dir = None if job.state_dir is None else Path(job.state_dir)
    store = LatentStore(state_dir, job.latent_ram_budget, persistent=state_dir is not None)
    try:
        with torch.no_grad():
            _Run(engine, job, comm, store, None, None, None).run(None, None)
    finally:
        store.close()


def plan_step_batches(clip: ClipInfo, settings: RestoreSettings, batch_tiles: int) -> list[list[Unit]]:
    """A step's (window, tile) evaluations, grouped into forward passes; at most one worker each."""
    geometry = plan_geometry(clip.height, clip.width, settings)
    windows = plan_windows(clip.num_frames, settings.num_temporal_process_frames)
    tiles = plan_tiles_2d(geometry.latent_height, geometry.latent_width, settings.tile_size, settings.tile_size // 2)
    return plan_batches(
        [
            ((w.index, t), (w.latent_frames, tile.rows.stop - tile.rows.start, tile.cols.stop - tile.cols.start))
            for w in windows
            for t, tile in enumerate(tiles)
        ],
        batch_tiles,
    )


class _Run:
    """One rank's share of one restoration; kept off the engine so an engine can serve many clips.

    Windows this rank evaluates tiles of ("touched") are kept whole; the ones it is home for live
    in `store` (persistent with a state_dir), the others in `replicas` (private, never persisted).
    """

    def __init__(self, engine: VividVREngine, job: Job, comm: Comm, store: LatentStore, progress, cancel, trace):
        self.engine, self.job, self.comm, self.store = engine, job, comm, store
        self.progress = progress or (lambda _p: None)
        self.cancel = cancel or CancelToken()
        self.trace = trace or (lambda _name, _tensor: None)
        self.settings = s = job.settings
        self.captioner = engine.captioner_for(s)
        self.text_fixer = engine.text_fixer_for(s) if comm.rank == 0 else None  # on the finished frames
        self.models = engine.models
        self.geometry = plan_geometry(job.clip.height, job.clip.width, s)
        self.windows = plan_windows(job.clip.num_frames, s.num_temporal_process_frames)
        self.ownership = plan_latent_ownership(self.windows, s.num_temporal_process_frames)
        self.tiles = plan_tiles_2d(
            self.geometry.latent_height, self.geometry.latent_width, s.tile_size, s.tile_size // 2
        )
        self.scheduler = self.models.scheduler
        self.scheduler.set_timesteps(s.num_inference_steps, device="cpu")
        self.generator = torch.Generator("cpu").manual_seed(s.seed)
        self.manifest = job.manifest
        if "generator" in self.manifest:
            self.generator.set_state(_bytes_to_state(self.manifest["generator"]))
        self.cfg = s.guidance_scale > 1.0
        self._rope_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self.replicas = LatentStore(None, job.latent_ram_budget, persistent=False)
        self.sharding = plan_sharding(plan_step_batches(job.clip, s, job.batch_tiles), comm.world)
        self.exchange_plan = plan_exchange(self.sharding, self.ownership)
        self.touched = self.sharding.touched(comm.rank)

    def run(self, clip: ClipSource | None, sink: FrameSink | None) -> None:
        try:
            steps_before = self.manifest["steps_done"]
            self.prepare(clip)
            self.denoise()
            self.decode(clip, sink)
            self._record_stats(self.settings.num_inference_steps - steps_before)
        finally:
            self.replicas.close()

    def _record_stats(self, steps_run: int) -> None:
        device = self.engine.device
        peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
        ranks = self.comm.gather((str(device), self.comm.step_bytes_sent, peak))
        channels = self.models.vae.config.latent_channels
        state = sum(2 * 4 * w.latent_frames * channels * self.geometry.latent_height * self.geometry.latent_width
                    for w in self.windows)
        self.engine.last_run = RunStats([r[0] for r in ranks], [r[1] for r in ranks], [r[2] for r in ranks],
                                        steps_run, state)

    # ------------------------------------------------------------------------- bookkeeping

    def _commit(self) -> None:
        """Once every rank has written its part, rank 0 records the progress."""
        self.comm.barrier()
        if self.comm.rank == 0:
            self.manifest["generator"] = _state_to_bytes(self.generator.get_state())
            self.store.commit(self.manifest)

    def _check_cancelled(self) -> None:
        """Every rank stops together when rank 0's caller cancels."""
        if self.comm.any_from_root(self.cancel.cancelled):
            raise Cancelled("cancelled")

    def _slot(self, window: int, steps_done: int) -> str:
        return _slot_key(window, steps_done)

    def _conditioning(self, window: int) -> str:
        return _conditioning_key(window)

    def _write(self, window: int, key: str, tensors: dict[str, torch.Tensor]) -> None:
        home = self.sharding.home(window) == self.comm.rank
        (self.store if home else self.replicas).write(key, tensors)

    def _read(self, window: int, key: str) -> dict[str, torch.Tensor]:
        """This rank's copy; a resumed rank finds windows it is not home for in the shared state_dir."""
        if self.sharding.home(window) != self.comm.rank and key in self.replicas:
            return self.replicas.read(key)
        return self.store.read(key)

    def _report(self, phase: str, **fields) -> None:
        self.progress(
            Progress(
                phase=phase,
                windows=len(self.windows),
                steps=self.settings.num_inference_steps,
                tiles=len(self.tiles),
                frames_total=self.job.clip.num_frames,
                **fields,
            )
        )

    # ------------------------------------------------------------------------------ prepare

    def prepare(self, clip: ClipSource | None) -> None:
        """Encode each window not yet prepared, one window per rank at a time; rank 0 streams the clip."""
        todo = self.windows[self.manifest["prepared"] :]
        if not todo:
            return
        world, rank = self.comm.world, self.comm.rank
        frames = _window_frames(clip, todo, self._resize_input) if rank == 0 else None
        try:
            for first in range(0, len(todo), world):
                group = todo[first : first + world]
                self._check_cancelled()
                pixels = self._deal_frames(frames, group)
                encoded = None
                for position, window in enumerate(group):
                    if position == rank:
                        self._report("encode", window=window.index)
                        encoded = self._prepare_window(window, pixels)
                    else:
                        self._skip_prepare_draws(window)
                self._share_prepared(group, encoded)
                self.manifest["prepared"] = group[-1].index + 1
                self._commit()
        finally:
            if frames is not None:
                _close(frames)
        self.trace("generator_state_before_denoising", self.generator.get_state())

    def _deal_frames(self, frames: Iterator | None, group: list[TemporalWindow]) -> torch.Tensor | None:
        """Rank 0 reads the group's windows and sends window k's pixels to rank k."""
        if self.comm.rank == 0:
            own = None
            for position in range(len(group)):
                _window, pixels = next(frames)
                if position == 0:
                    own = pixels
                else:
                    self.comm.send(position, {"pixels": pixels})
            return own
        return self.comm.receive(0)["pixels"] if self.comm.rank < len(group) else None

    def _share_prepared(self, group: list[TemporalWindow], encoded: tuple | None) -> None:
        """Window k's encoding goes from rank k to every rank evaluating its tiles; captions to all."""
        rank = self.comm.rank
        for position, window in enumerate(group):
            ranks = [r for r in range(self.comm.world) if window.index in self.sharding.touched(r)]
            tensors = None
            if position == rank:
                _captions, conditioning, latents = encoded
                tensors = {**conditioning, "latents": latents}
                for destination in ranks:
                    if destination != rank:
                        self.comm.send(destination, tensors)
            elif rank in ranks:
                tensors = self.comm.receive(position)
            if tensors is not None and rank in ranks:
                latents = tensors.pop("latents")
                self._write(window.index, self._conditioning(window.index), tensors)
                self._write(window.index, self._slot(window.index, 0), {"latents": latents})
        mine = encoded[0] if encoded is not None else None
        for captions in self.comm.gather(mine)[: len(group)]:
            self.manifest["captions"].append(captions)

    def _resize_input(self, frame: np.ndarray) -> torch.Tensor:
        return resize_frame(frame, self.geometry)

    def _prepare_window(self, window: TemporalWindow, frames: torch.Tensor) -> tuple[list[str], dict, torch.Tensor]:
        g = self.geometry
        padded = torch.cat([frames, frames[-1:].expand(window.padded_frames - window.frames, -1, -1, -1)])
        padded = F.pad(padded, (0, g.gen_width - g.out_width, 0, g.gen_height - g.out_height), mode="replicate")
        captions = self._caption(padded)
        positive, negative = self._encode_prompts(captions)
        control_latents = self._encode_video(padded)
        latents = torch.randn(control_latents.shape, generator=self.generator, dtype=torch.float32)
        latents = latents * self.scheduler.init_noise_sigma
        for name, tensor in (
            ("control_latents", control_latents),
            ("initial_latents", latents),
            ("prompt_embeds", positive),
            ("negative_prompt_embeds", negative),
        ):
            self.trace(f"window{window.index}.{name}", tensor)
        conditioning = {
            "control_latents": control_latents,
            "prompt_embeds": positive,
            "negative_prompt_embeds": negative,
        }
        return captions, conditioning, latents

    def _skip_prepare_draws(self, window: TemporalWindow) -> None:
        """Draw (and drop) what `_prepare_window` draws for a window another rank encodes."""
        vae, g = self.models.vae, self.geometry
        channels = vae.config.latent_channels
        encoded_frames = (window.padded_frames - 1) // VAE_TEMPORAL + 1
        torch.randn((1, channels, encoded_frames, g.latent_height, g.latent_width), generator=self.generator,
                    dtype=vae.dtype)
        torch.randn((1, window.latent_frames, channels, g.latent_height, g.latent_width), generator=self.generator)

    def _caption(self, video: torch.Tensor) -> list[str]:
        """One caption per pixel tile (the latent tiling, scaled to pixels), row-major."""
        size = self.settings.tile_size * VAE_SPATIAL
        tiles = plan_tiles_2d(video.shape[2], video.shape[3], size, size // 2)
        fps = float(self.job.clip.fps)
        return [
            self.captioner.caption(video[:, :, t.rows.start : t.rows.stop, t.cols.start : t.cols.stop], fps)
            for t in tiles
        ]

    def _encode_prompts(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        texts = [prompt_for(c) for c in captions]
        positive = self._t5(texts)
        negative = self._t5([NEGATIVE_PROMPT]).expand(len(texts), -1, -1).contiguous()
        return positive, negative

    def _t5(self, texts: list[str]) -> torch.Tensor:
        ids = self.models.tokenizer(
            texts,
            padding="max_length",
            max_length=MAX_TEXT_TOKENS,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        ).input_ids
        with self.engine.on_device(self.models.text_encoder) as text_encoder:
            embeds = text_encoder(ids.to(self.engine.device))[0]
        return embeds.to("cpu", torch.float32)

    def _encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """[T, 3, H, W] in [0, 1] -> scaled latents [1, T', C, h, w], first latent repeated if T' is odd."""
        vae = self.models.vae
        pixels = (video * 2 - 1).permute(1, 0, 2, 3)[None].to(self.engine.device, self.engine.dtype)
        with self.engine.on_device(vae):
            latents = vae.encode(pixels).latent_dist.sample(self.generator)
        latents = (latents * vae.config.scaling_factor).permute(0, 2, 1, 3, 4).to("cpu", torch.float32)
        if latents.shape[1] % PATCH:
            latents = torch.cat([latents[:, :1], latents], dim=1)
        return latents

    # ------------------------------------------------------------------------------ denoise

    def denoise(self) -> None:
        """Per step: this rank's batches in draw order, then the exchange, then the window merge."""
        steps = self.settings.num_inference_steps
        mine = set(self.sharding.batches_by_rank[self.comm.rank])
        last_unit = {unit[0]: unit for unit in self.sharding.units(self.comm.rank)}
        for step in range(self.manifest["steps_done"], steps):
            self._check_cancelled()
            open_windows: dict[int, tuple[dict, dict, dict]] = {}
            for index, batch in enumerate(self.sharding.batches):
                if index not in mine:
                    for unit in batch:
                        self._skip_solver_draws(unit, step)
                    continue
                for window, _tile in batch:
                    if window not in open_windows:
                        open_windows[window] = self._open_window(window, step)
                predictions = self._evaluate(batch, step, open_windows)
                for unit, noise_pred in zip(batch, predictions, strict=True):
                    self._step_unit(unit, step, noise_pred, open_windows[unit[0]])
                    if last_unit[unit[0]] == unit:
                        _state, _conditioning, new = open_windows.pop(unit[0])
                        self.replicas.write(self._next(unit[0]), new)
            self._exchange_tiles()
            self._merge_windows()
            for window in self.touched:
                self._write(window, self._slot(window, step + 1), self.replicas.read(self._next(window)))
            self.manifest["steps_done"] = step + 1
            self._commit()
        for window in self.touched:
            self.trace(f"window{window}.final_latents", self._read(window, self._slot(window, steps))["latents"])

    def _next(self, window: int) -> str:
        """Scratch key of a window's latents being assembled during a step."""
        return f"window{window}.next"

    def _open_window(self, window: int, step: int) -> tuple[dict, dict, dict]:
        state = self._read(window, self._slot(window, step))
        latents = state["latents"]
        new = {"latents": torch.zeros_like(latents), "previous_x0": torch.zeros_like(latents)}
        return state, self._read(window, self._conditioning(window)), new

    def _evaluate(self, batch: list[Unit], step: int, open_windows: dict) -> list[torch.Tensor]:
        """One guided forward pass of controlnet + transformer over a batch of equal-shape tiles."""
        device, dtype = self.engine.device, self.engine.dtype
        timestep = self.scheduler.timesteps[step]
        latents, controls, texts = [], [], []
        for window, tile_index in batch:
            state, conditioning, _new = open_windows[window]
            region = _region(self.tiles[tile_index])
            self._report("denoise", window=window, step=step, tile=tile_index)
            if self.comm.world == 1:
                self.cancel.raise_if_cancelled()
            copies = 2 if self.cfg else 1
            scaled = self.scheduler.scale_model_input(state["latents"][region], timestep)
            latents.append(scaled.repeat(copies, 1, 1, 1, 1))
            controls.append(conditioning["control_latents"][region])  # one row serves the tile's CFG copies
            positive = conditioning["prompt_embeds"][tile_index : tile_index + 1]
            negative = conditioning["negative_prompt_embeds"][tile_index : tile_index + 1]
            texts.append(torch.cat([negative, positive]) if self.cfg else positive)
        model_latents, model_control, text = (torch.cat(x).to(device, dtype) for x in (latents, controls, texts))
        rope = self._rope(model_latents.shape)
        t = timestep.reshape(1).to(device)
        control_states = self.models.controlnet(model_latents, text, model_control, t, rope)
        noise_pred = self.models.transformer(model_latents, text, t, rope, control_states, model_control).to(
            "cpu", torch.float32
        )
        predictions = []
        for unit_pred in noise_pred.chunk(len(batch)):
            if self.cfg:
                uncond, cond = unit_pred.chunk(2)
                unit_pred = uncond + self.settings.guidance_scale * (cond - uncond)
            predictions.append(unit_pred)
        return predictions

    def _step_unit(self, unit: Unit, step: int, noise_pred: torch.Tensor, opened: tuple[dict, dict, dict]) -> None:
        """The solver step of one tile; its owned region goes into the window's new state."""
        state, conditioning, new = opened
        tile = self.tiles[unit[1]]
        region = _region(tile)
        previous_x0 = state.get("previous_x0")
        latents, x0 = solver_step(
            self.scheduler,
            noise_pred,
            state["latents"][region],
            None if previous_x0 is None else previous_x0[region],
            step,
            self.generator,
            conditioning["control_latents"][region],
            self.settings.restoration_guidance_scale,
        )
        owned, local = _owned_region(tile)
        new["latents"][owned] = latents[local]
        new["previous_x0"][owned] = x0[local]

    def _skip_solver_draws(self, unit: Unit, step: int) -> None:
        """Draw (and drop) what the solver draws for a tile another rank evaluates."""
        window, tile = self.windows[unit[0]], self.tiles[unit[1]]
        zeros = torch.zeros(
            1, window.latent_frames, self.models.vae.config.latent_channels, tile.rows.stop - tile.rows.start,
            tile.cols.stop - tile.cols.start,
        )
        solver_step(self.scheduler, zeros, zeros, zeros if step > 0 else None, step, self.generator, zeros,
                    self.settings.restoration_guidance_scale)

    def _rope(self, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE depends only on the tile's latent shape; a clip has a handful of shapes."""
        key = tuple(shape[1:])
        if key not in self._rope_cache:
            self._rope_cache[key] = _rotary_embedding(shape, self.models.transformer.config, self.engine.device)
        return self._rope_cache[key]

    def _transfer(self, kind: str, pack, unpack) -> None:
        """Send this rank's pieces of one kind and apply the ones it receives, in plan order."""
        rank = self.comm.rank
        outgoing, incoming = {}, {}
        for (source, destination), pieces in self.exchange_plan.items():
            pieces = [p for p in pieces if p.kind == kind]
            if not pieces:
                continue
            if source == rank:
                outgoing[destination] = torch.cat([t.reshape(-1) for p in pieces for t in pack(p)])
            elif destination == rank:
                incoming[source] = (pieces, sum(2 * math.prod(self._piece_shape(p)) for p in pieces))
        received = self.comm.exchange(outgoing, {source: numel for source, (_p, numel) in incoming.items()})
        for source, buffer in received.items():
            offset = 0
            for piece in incoming[source][0]:
                shape = self._piece_shape(piece)
                size = math.prod(shape)
                latents = buffer[offset : offset + size].reshape(shape)
                x0 = buffer[offset + size : offset + 2 * size].reshape(shape)
                offset += 2 * size
                unpack(piece, latents, x0)

    def _piece_shape(self, piece: Piece) -> tuple[int, ...]:
        channels, g = self.models.vae.config.latent_channels, self.geometry
        if piece.kind == "frame":
            return (1, 1, channels, g.latent_height, g.latent_width)
        tile = self.tiles[piece.index]
        frames = self.windows[piece.window].latent_frames
        return (1, frames, channels, tile.rows.own_stop - tile.rows.own_start, tile.cols.own_stop - tile.cols.own_start)

    def _exchange_tiles(self) -> None:
        """Ranks sharing a window swap the owned regions of the tiles each evaluated."""

        def pack(piece: Piece) -> tuple[torch.Tensor, torch.Tensor]:
            new = self.replicas.read(self._next(piece.window))
            owned, _local = _owned_region(self.tiles[piece.index])
            return new["latents"][owned], new["previous_x0"][owned]

        def unpack(piece: Piece, latents: torch.Tensor, x0: torch.Tensor) -> None:
            new = self.replicas.read(self._next(piece.window))
            owned, _local = _owned_region(self.tiles[piece.index])
            new["latents"][owned], new["previous_x0"][owned] = latents, x0
            self.replicas.write(self._next(piece.window), new)

        self._transfer("tile", pack, unpack)

    def _merge_windows(self) -> None:
        """Each window takes the latents (and x0) of every latent frame another window owns."""
        frames: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

        def pack(piece: Piece) -> tuple[torch.Tensor, torch.Tensor]:
            new = self.replicas.read(self._next(piece.window))
            return new["latents"][:, piece.index], new["previous_x0"][:, piece.index]

        def unpack(piece: Piece, latents: torch.Tensor, x0: torch.Tensor) -> None:
            frames[(piece.window, piece.index)] = (latents[:, 0], x0[:, 0])

        self._transfer("frame", pack, unpack)
        for window in self.touched:
            copies = self.ownership[window]
            if not copies:
                continue
            state = self.replicas.read(self._next(window))
            for copy in copies:
                if copy.owner in self.touched:
                    owner = self.replicas.read(self._next(copy.owner))
                    source = (owner["latents"][:, copy.owner_local], owner["previous_x0"][:, copy.owner_local])
                else:
                    source = frames[(copy.owner, copy.owner_local)]
                state["latents"][:, copy.local], state["previous_x0"][:, copy.local] = source
            self.replicas.write(self._next(window), state)

    # ------------------------------------------------------------------------------- decode

    def decode(self, clip: ClipSource | None, sink: FrameSink | None) -> None:
        """Decode every window not yet written, one per rank at a time; rank 0 colour-fixes and emits."""
        first_unwritten = self.job.first_unwritten_frame
        todo = [w for w in self.windows if w.keep_stop > first_unwritten]
        if not todo:
            return
        rank, world = self.comm.rank, self.comm.world
        source = clip.frames(max(todo[0].keep_start, first_unwritten)) if rank == 0 else None
        try:
            references = (self._resize_input(frame) for frame in source) if source is not None else None
            for first in range(0, len(todo), world):
                group = todo[first : first + world]
                self._check_cancelled()
                latents = self._deal_final_latents(group)
                kept = None
                if rank < len(group):
                    window = group[rank]
                    start = max(window.keep_start, first_unwritten)
                    self._report("decode", window=window.index, step=self.settings.num_inference_steps,
                                 frames_done=start)
                    frames = self._decode_window(window, latents)
                    kept = frames[start - window.start : window.keep_stop - window.start]
                for position, window in enumerate(group):
                    if position and rank == position:
                        self.comm.send(0, {"frames": kept})
                    if rank == 0:
                        frames = kept if position == 0 else self.comm.receive(position)["frames"]
                        self._emit(window, frames, references, sink, max(window.keep_start, first_unwritten))
        finally:
            if source is not None:
                _close(source)

    def _deal_final_latents(self, group: list[TemporalWindow]) -> torch.Tensor | None:
        """Rank k decodes window k of the group; it gets the final latents from the window's home."""
        rank, steps = self.comm.rank, self.settings.num_inference_steps
        mine = None
        for position, window in enumerate(group):
            home = self.sharding.home(window.index)
            key = self._slot(window.index, steps)
            if position == rank and window.index in self.touched:
                mine = self._read(window.index, key)["latents"]
            elif position == rank:
                mine = self.comm.receive(home)["latents"]
            elif home == rank and window.index not in self.sharding.touched(position):
                self.comm.send(position, {"latents": self._read(window.index, key)["latents"]})
        return mine

    def _emit(self, window: TemporalWindow, kept: torch.Tensor, references: Iterator[torch.Tensor],
              sink: FrameSink, start: int) -> None:
        reference = torch.stack([next(references) for _ in range(len(kept))])
        self.trace(f"window{window.index}.kept_raw", kept)
        fixed = color_fix(kept, reference, self.settings.color_fix).permute(0, 2, 3, 1).numpy()
        if self.text_fixer is not None:
            fixed = self.text_fixer.apply(fixed, reference.permute(0, 2, 3, 1).numpy())
        sink.write_segment(start, fixed)
        self._report("decode", window=window.index, step=self.settings.num_inference_steps,
                     frames_done=window.keep_stop)

    def _decode_window(self, window: TemporalWindow, latents: torch.Tensor) -> torch.Tensor:
        """Latents -> the window's frames [frames, 3, out_h, out_w] in [0, 1]."""
        vae, g = self.models.vae, self.geometry
        padding_latents = latents.shape[1] - ((window.padded_frames - 1) // 4 + 1)
        latents = latents[:, padding_latents:].permute(0, 2, 1, 3, 4) / vae.config.scaling_factor
        with self.engine.on_device(vae):
            video = vae.decode(latents.to(self.engine.device, self.engine.dtype)).sample
        video = (video[0].permute(1, 0, 2, 3).float().cpu() / 2 + 0.5).clamp(0, 1)
        video = video[:, :, : g.out_height, : g.out_width]
        self.trace(f"window{window.index}.decoded_frames", video.permute(0, 2, 3, 1))
        video = video[decoded_frames_to_drop(video.shape[0]) :]
        return video[: window.frames]


# ----------------------------------------------------------------------------------- helpers


def resize_frame(frame: np.ndarray, geometry: Geometry) -> torch.Tensor:
    """Source frame (H, W, 3) -> control frame (3, out_h, out_w): bicubic, clipped to [0, 1].

    By the factor where the settings give one (as the reference does), else to the exact size.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32)).permute(2, 0, 1)[None]
    resize = geometry.resize
    if resize.scale_factor is not None:
        if resize.scale_factor != 1.0:
            tensor = F.interpolate(tensor, scale_factor=resize.scale_factor, mode="bicubic")
    elif tuple(tensor.shape[2:]) != (resize.height, resize.width):
        tensor = F.interpolate(tensor, size=(resize.height, resize.width), mode="bicubic")
    tensor = tensor.clip(0, 1)[0]
    if tuple(tensor.shape[1:]) != (geometry.out_height, geometry.out_width):
        raise ValueError(
            f"resized frame is {tuple(tensor.shape[1:])}, expected {geometry.out_height}x{geometry.out_width}"
        )
    return tensor


def _window_frames(
    clip: ClipSource, windows: list[TemporalWindow], resize: Callable[[np.ndarray], torch.Tensor]
) -> Iterator[tuple[TemporalWindow, torch.Tensor]]:
    """Yield each window's resized frames, reading the clip once and keeping only the overlap."""
    frames = clip.frames(windows[0].start)
    buffer: list[torch.Tensor] = []
    buffer_start = windows[0].start
    try:
        for window in windows:
            buffer = buffer[window.start - buffer_start :]
            buffer_start = window.start
            while len(buffer) < window.frames:
                buffer.append(resize(next(frames)))
            yield window, torch.stack(buffer)
    finally:
        _close(frames)


def _close(frames: Iterator) -> None:
    """Release a frame reader (and its decoder) now rather than at garbage collection."""
    close = getattr(frames, "close", None)
    if close is not None:
        close()


def _region(tile: Tile2D) -> tuple[slice, ...]:
    return (
        slice(None),
        slice(None),
        slice(None),
        slice(tile.rows.start, tile.rows.stop),
        slice(tile.cols.start, tile.cols.stop),
    )


def _owned_region(tile: Tile2D) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """(in the window, in the tile): where the tile's weight is 1. Owned regions partition a window,
    so joining tiles is copying each tile's owned region (the reference's 0/1-weighted average)."""
    rows, cols = tile.rows, tile.cols
    in_window = (slice(None), slice(None), slice(None), slice(rows.own_start, rows.own_stop),
                 slice(cols.own_start, cols.own_stop))
    in_tile = (slice(None), slice(None), slice(None), slice(rows.own_start - rows.start, rows.own_stop - rows.start),
               slice(cols.own_start - cols.start, cols.own_stop - cols.start))
    return in_window, in_tile


def _fingerprint(clip: ClipSource, settings: RestoreSettings, engine: VividVREngine) -> str:
    """Identifies everything the saved state depends on, so state from another job, another
    plan, another version of this code or another kind of device is never resumed.

    Offload is left out: it never changes the result; so is the worker count (see `sharding`).
    """
    geometry = plan_geometry(clip.height, clip.width, settings)
    windows = plan_windows(clip.num_frames, settings.num_temporal_process_frames)
    tiles = plan_tiles_2d(geometry.latent_height, geometry.latent_width, settings.tile_size, settings.tile_size // 2)
    frames = clip.frames(0)
    try:
        first_frame = np.ascontiguousarray(next(frames), dtype=np.float32)
    finally:
        _close(frames)
    file_stats = getattr(clip, "file_stats", None)
    identity = {
        "code": [__version__, engine_source_digest()],
        "device": _device_model(engine.device),
        "dtype": str(engine.dtype),
        "settings": {k: v for k, v in settings.to_dict().items() if k != "offload"},
        "plan": repr((geometry, windows, tiles)),
        "clip": [clip.num_frames, clip.height, clip.width, str(clip.fps)],
        "files": file_stats() if callable(file_stats) else None,
        "first_frame": hashlib.sha256(first_frame.tobytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _resume_point(store: LatentStore, fingerprint: str, settings: RestoreSettings, windows: int) -> dict:
    """The saved progress of this very job, else a fresh start (after a warning if it is unusable)."""
    fresh = {"fingerprint": fingerprint, "prepared": 0, "steps_done": 0, "captions": []}
    try:
        manifest = store.load_manifest()
        if manifest is None or manifest.get("fingerprint") != fingerprint:
            return fresh
        _check_saved(store, manifest, settings, windows)
        torch.Generator("cpu").set_state(_bytes_to_state(manifest["generator"]))  # a usable random state
    except (ValueError, KeyError, TypeError, OSError, RuntimeError, SafetensorError) as exc:
        log.warning("%s: the saved state cannot be used (%s); restoring this clip from the start",
                    store.directory, exc)
        store.clear()
        return fresh
    return manifest


def _check_saved(store: LatentStore, manifest: dict, settings: RestoreSettings, windows: int) -> None:
    """Raise unless every file the manifest relies on is complete and its counts make sense."""
    prepared, steps_done = int(manifest["prepared"]), int(manifest["steps_done"])
    if not (0 <= prepared <= windows and 0 <= steps_done <= settings.num_inference_steps):
        raise ValueError(f"manifest counts out of range (prepared {prepared}, steps {steps_done})")
    if (steps_done and prepared != windows) or len(manifest["captions"]) != prepared:
        raise ValueError("manifest counts disagree")
    for window in range(prepared):
        store.check(_conditioning_key(window))
        store.check(_slot_key(window, steps_done))


def _slot_key(window: int, steps_done: int) -> str:
    """Key of a window's evolving latents after `steps_done` steps (two slots, alternating)."""
    return f"window{window}.slot{steps_done % 2}"


def _conditioning_key(window: int) -> str:
    """Key of a window's fixed inputs: control latents and prompt embeddings."""
    return f"window{window}.conditioning"


def _rotary_embedding(shape: torch.Size, config, device) -> tuple[torch.Tensor, torch.Tensor]:
    """CogVideoX 1.5 RoPE for a latent tile [B, T, C, h, w]."""
    frames, height, width = shape[1], shape[3], shape[4]
    cos, sin = get_3d_rotary_pos_embed(
        embed_dim=config.attention_head_dim,
        crops_coords=None,
        grid_size=(height // PATCH, width // PATCH),
        temporal_size=(frames + config.patch_size_t - 1) // config.patch_size_t,
        grid_type="slice",
        max_size=(ROPE_MAX_GRID, ROPE_MAX_GRID),
    )
    return cos.to(device), sin.to(device)


@functools.cache
def engine_source_digest() -> str:
    """SHA-256 of this package's Python sources: saved state is resumed only by the code that wrote it."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _device_model(device: torch.device) -> str:
    """The kind of device the numbers come from: the GPU model (any index of it), else the type."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def _state_to_bytes(state: torch.Tensor) -> list[int]:
    return state.tolist()


def _bytes_to_state(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.uint8)
