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

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.embeddings import get_3d_rotary_pos_embed

from vividvr_engine import __version__
from vividvr_engine.captioning import (
    NEGATIVE_PROMPT,
    Captioner,
    CogVLM2Captioner,
    FixedCaptioner,
    prompt_for,
)
from vividvr_engine.checkpoints import CheckpointPaths, VividVRModels, load_models
from vividvr_engine.colorfix import color_fix
from vividvr_engine.engine import CancelToken, ClipSource, FrameSink, Progress, ProgressCallback
from vividvr_engine.errors import CheckpointError
from vividvr_engine.guidance import solver_step
from vividvr_engine.latent_store import LatentStore
from vividvr_engine.planning import (
    PATCH,
    VAE_SPATIAL,
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
from vividvr_engine.textfix import TextFixer

MAX_TEXT_TOKENS = 226
ROPE_MAX_GRID = 300 // PATCH
DEFAULT_LATENT_RAM_BUDGET = 4 << 30

Trace = Callable[[str, torch.Tensor], None]


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
    ) -> None:
        self.models = models
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
    ) -> VividVREngine:
        """Validate the checkpoints, then load them: bfloat16 on a GPU and float32 on the CPU by default."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
        paths = CheckpointPaths.from_root(checkpoints or default_checkpoint_root())
        paths.validate()
        models = load_models(paths, dtype)
        return cls(models, None, device, dtype, offload=offload, checkpoints=paths)

    def output_size(self, height: int, width: int, settings: RestoreSettings) -> tuple[int, int]:
        return settings.output_size(height, width)

    def captioner_for(self, settings: RestoreSettings) -> Captioner:
        """The job's fixed caption, else the captioning model (loaded once, on first need)."""
        if settings.caption:
            return FixedCaptioner(settings.caption)
        if self.captioner is None:
            paths = self.checkpoints
            if paths is None or paths.captioner is None:
                where = "cogvlm2-llama3-caption" if paths is None else paths.cogvideox.parent / "cogvlm2-llama3-caption"
                raise CheckpointError(
                    f"no captioner at {where}: download https://huggingface.co/zai-org/cogvlm2-llama3-caption"
                    " there, or give a caption (--caption TEXT)"
                )
            self.captioner = CogVLM2Captioner.from_pretrained(paths.captioner, device=str(self.device))
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
    ) -> None:
        job = _Job(settings, self.captioner_for(settings), self.text_fixer_for(settings))
        run = _Run(self, job, clip, progress or (lambda _p: None), cancel or CancelToken(), trace, state_dir)
        try:
            run.prepare()
            run.denoise()
            run.decode(sink, first_unwritten_frame)
        finally:
            run.store.close()


@dataclass(frozen=True)
class _Job:
    """What one restore call brings: its settings and the helpers they select."""

    settings: RestoreSettings
    captioner: Captioner
    text_fixer: TextFixer | None


class _Run:
    """One restoration's state; kept off the engine so an engine can serve many clips."""

    def __init__(self, engine: VividVREngine, job: _Job, clip: ClipSource, progress, cancel, trace, state_dir):
        self.engine, self.job, self.clip, self.progress, self.cancel = engine, job, clip, progress, cancel
        self.trace = trace or (lambda _name, _tensor: None)
        self.settings = s = job.settings
        self.models = engine.models
        self.geometry = plan_geometry(clip.height, clip.width, s)
        self.windows = plan_windows(clip.num_frames, s.num_temporal_process_frames)
        self.ownership = plan_latent_ownership(self.windows, s.num_temporal_process_frames)
        self.tiles = plan_tiles_2d(
            self.geometry.latent_height, self.geometry.latent_width, s.tile_size, s.tile_size // 2
        )
        self.scheduler = self.models.scheduler
        self.scheduler.set_timesteps(s.num_inference_steps, device="cpu")
        self.generator = torch.Generator("cpu").manual_seed(s.seed)
        self.cfg = s.guidance_scale > 1.0
        self._rope_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self.store = LatentStore(state_dir, engine.latent_ram_budget, persistent=state_dir is not None)
        self.fingerprint = self._fingerprint()
        self.manifest = self._resume_point()

    # ------------------------------------------------------------------------- bookkeeping

    def _fingerprint(self) -> str:
        """Identifies clip and settings, so state saved for another job is never resumed."""
        clip = self.clip
        frames = clip.frames(0)
        try:
            first_frame = np.ascontiguousarray(next(frames), dtype=np.float32)
        finally:
            _close(frames)
        identity = {
            "engine": __version__,
            "settings": {k: v for k, v in self.settings.to_dict().items() if k != "offload"},
            "clip": [clip.num_frames, clip.height, clip.width, str(clip.fps)],
            "first_frame": hashlib.sha256(first_frame.tobytes()).hexdigest(),
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def _resume_point(self) -> dict:
        manifest = self.store.load_manifest()
        if manifest and manifest.get("fingerprint") == self.fingerprint:
            self.generator.set_state(_bytes_to_state(manifest["generator"]))
            return manifest
        return {"fingerprint": self.fingerprint, "prepared": 0, "steps_done": 0, "captions": []}

    def _commit(self) -> None:
        self.manifest["generator"] = _state_to_bytes(self.generator.get_state())
        self.store.commit(self.manifest)

    def _slot(self, window: int, steps_done: int) -> str:
        """Key of a window's evolving latents after `steps_done` steps (two slots, alternating)."""
        return f"window{window}.slot{steps_done % 2}"

    def _conditioning(self, window: int) -> str:
        """Key of a window's fixed inputs: control latents and prompt embeddings."""
        return f"window{window}.conditioning"

    def _report(self, phase: str, **fields) -> None:
        self.progress(
            Progress(
                phase=phase,
                windows=len(self.windows),
                steps=self.settings.num_inference_steps,
                tiles=len(self.tiles),
                frames_total=self.clip.num_frames,
                **fields,
            )
        )

    # ------------------------------------------------------------------------------ prepare

    def prepare(self) -> None:
        """Encode each window not yet prepared, streaming the clip one window at a time."""
        first = self.manifest["prepared"]
        if first >= len(self.windows):
            return
        for window, frames in _window_frames(self.clip, self.windows[first:], self._resize_input):
            self.cancel.raise_if_cancelled()
            self._report("encode", window=window.index)
            captions, conditioning, latents = self._prepare_window(window, frames)
            self.store.write(self._conditioning(window.index), conditioning)
            self.store.write(self._slot(window.index, 0), {"latents": latents})
            self.manifest["captions"].append(captions)
            self.manifest["prepared"] = window.index + 1
            self._commit()
        self.trace("generator_state_before_denoising", self.generator.get_state())

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

    def _caption(self, video: torch.Tensor) -> list[str]:
        """One caption per pixel tile (the latent tiling, scaled to pixels), row-major."""
        size = self.settings.tile_size * VAE_SPATIAL
        tiles = plan_tiles_2d(video.shape[2], video.shape[3], size, size // 2)
        fps = float(self.clip.fps)
        return [
            self.job.captioner.caption(video[:, :, t.rows.start : t.rows.stop, t.cols.start : t.cols.stop], fps)
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
        steps = self.settings.num_inference_steps
        for step in range(self.manifest["steps_done"], steps):
            for window in self.windows:
                state = self.store.read(self._slot(window.index, step))
                conditioning = self.store.read(self._conditioning(window.index))
                latents, x0 = self._denoise_window(window.index, step, state, conditioning)
                self.store.write(self._slot(window.index, step + 1), {"latents": latents, "previous_x0": x0})
            self._merge_windows(step + 1)
            self.manifest["steps_done"] = step + 1
            self._commit()
        for window in self.windows:
            self.trace(
                f"window{window.index}.final_latents", self.store.read(self._slot(window.index, steps))["latents"]
            )

    def _denoise_window(
        self, window: int, step: int, state: dict, conditioning: dict
    ) -> tuple[torch.Tensor, torch.Tensor]:
        latents = state["latents"]
        previous_x0 = state.get("previous_x0")
        joined = torch.zeros_like(latents)
        joined_x0 = torch.zeros_like(latents)
        weights = torch.zeros_like(latents)
        for index, tile in enumerate(self.tiles):
            self._report("denoise", window=window, step=step, tile=index)
            self.cancel.raise_if_cancelled()
            region = _region(tile)
            new_latents, x0 = self._denoise_tile(
                latents[region],
                conditioning["control_latents"][region],
                None if previous_x0 is None else previous_x0[region],
                conditioning["prompt_embeds"][index : index + 1],
                conditioning["negative_prompt_embeds"][index : index + 1],
                step,
            )
            weight = _ownership_weights(tile, latents[region].shape)
            joined[region] += new_latents * weight
            joined_x0[region] += x0 * weight
            weights[region] += weight
        return joined / weights, joined_x0 / weights

    def _denoise_tile(self, latents, control, previous_x0, positive, negative, step):
        device, dtype = self.engine.device, self.engine.dtype
        timestep = self.scheduler.timesteps[step]
        batch = 2 if self.cfg else 1
        text = torch.cat([negative, positive]) if self.cfg else positive
        model_latents = self.scheduler.scale_model_input(latents, timestep).repeat(batch, 1, 1, 1, 1)
        model_control = control.repeat(batch, 1, 1, 1, 1)
        rope = self._rope(latents.shape)
        t = timestep.reshape(1).to(device)
        model_latents, model_control, text = (x.to(device, dtype) for x in (model_latents, model_control, text))
        control_states = self.models.controlnet(model_latents, text, model_control, t, rope)
        noise_pred = self.models.transformer(
            torch.cat([model_latents, model_control], dim=2), text, t, rope, control_states
        ).to("cpu", torch.float32)
        if self.cfg:
            uncond, cond = noise_pred.chunk(2)
            noise_pred = uncond + self.settings.guidance_scale * (cond - uncond)
        return solver_step(
            self.scheduler,
            noise_pred,
            latents,
            previous_x0,
            step,
            self.generator,
            control,
            self.settings.restoration_guidance_scale,
        )

    def _rope(self, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE depends only on the tile's latent shape; a clip has a handful of shapes."""
        key = tuple(shape[1:])
        if key not in self._rope_cache:
            self._rope_cache[key] = _rotary_embedding(shape, self.models.transformer.config, self.engine.device)
        return self._rope_cache[key]

    def _merge_windows(self, steps_done: int) -> None:
        """Each window takes the latents (and x0) of every latent frame another window owns."""
        for window, copies in zip(self.windows, self.ownership, strict=True):
            if not copies:
                continue
            state = self.store.read(self._slot(window.index, steps_done))
            owners = {c.owner: self.store.read(self._slot(c.owner, steps_done)) for c in copies}
            for copy in copies:
                for name in ("latents", "previous_x0"):
                    state[name][:, copy.local] = owners[copy.owner][name][:, copy.owner_local]
            self.store.write(self._slot(window.index, steps_done), state)

    # ------------------------------------------------------------------------------- decode

    def decode(self, sink: FrameSink, first_unwritten_frame: int) -> None:
        """Decode, trim, colour-fix and emit every window not yet written, re-reading only its frames."""
        todo = [w for w in self.windows if w.keep_stop > first_unwritten_frame]
        if not todo:
            return
        source = self.clip.frames(max(todo[0].keep_start, first_unwritten_frame))
        try:
            references = (self._resize_input(frame) for frame in source)
            for window in todo:
                self._emit_window(window, references, sink, max(window.keep_start, first_unwritten_frame))
        finally:
            _close(source)

    def _emit_window(self, window: TemporalWindow, references: Iterator[torch.Tensor], sink: FrameSink, start: int):
        steps = self.settings.num_inference_steps
        self._report("decode", window=window.index, step=steps, frames_done=start)
        self.cancel.raise_if_cancelled()
        frames = self._decode_window(window, self.store.read(self._slot(window.index, steps))["latents"])
        kept = frames[start - window.start : window.keep_stop - window.start]
        reference = torch.stack([next(references) for _ in range(len(kept))])
        self.trace(f"window{window.index}.kept_raw", kept)
        fixed = color_fix(kept, reference, self.settings.color_fix).permute(0, 2, 3, 1).numpy()
        if self.job.text_fixer is not None:
            fixed = self.job.text_fixer.apply(fixed, reference.permute(0, 2, 3, 1).numpy())
        sink.write_segment(start, fixed)
        self._report("decode", window=window.index, step=steps, frames_done=window.keep_stop)

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


def _ownership_weights(tile: Tile2D, shape: torch.Size) -> torch.Tensor:
    weight = torch.zeros(shape)
    rows = slice(tile.rows.own_start - tile.rows.start, tile.rows.own_stop - tile.rows.start)
    cols = slice(tile.cols.own_start - tile.cols.start, tile.cols.own_stop - tile.cols.start)
    weight[:, :, :, rows, cols] = 1
    return weight


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


def _state_to_bytes(state: torch.Tensor) -> list[int]:
    return state.tolist()


def _bytes_to_state(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.uint8)
