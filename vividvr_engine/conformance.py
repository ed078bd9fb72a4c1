"""Run reference vector cases against this engine: `python -m vividvr_engine.conformance VECTORS --checkpoints CKPT`.

Each case is NAME.json (its `kind` is `forward`, `scheduler` or `restore`) plus NAME.safetensors.
One line is printed per compared tensor: `case.tensor PASS|FAIL max_abs mean_abs`; the exit
status is non-zero if anything fails (or a case cannot run).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from vividvr_engine.captioning import NEGATIVE_PROMPT, RecordedCall, RecordedCaptioner, prompt_for
from vividvr_engine.checkpoints import CheckpointPaths, VividVRModels, load_models
from vividvr_engine.guidance import solver_step
from vividvr_engine.in_memory import ArrayClip, MemorySink
from vividvr_engine.pipeline import (
    MAX_TEXT_TOKENS,
    VividVREngine,
    _rotary_embedding,
    plan_geometry,
    resize_frame,
)
from vividvr_engine.settings import RestoreSettings

# Tolerances from ../shared/reference/README.md; "exact" tensors are computed before any model runs.
FORWARD_TOL = 1e-3
SCHEDULER_TOL = 1e-5
PREPARED_TOL = 1e-4
LATENT_TOL = 2e-2
FRAME_MAX_TOL, FRAME_MEAN_TOL = 2e-2, 2e-3


@dataclass
class Comparison:
    name: str
    max_abs: float
    mean_abs: float
    passed: bool

    def line(self) -> str:
        return f"{self.name} {'PASS' if self.passed else 'FAIL'} {self.max_abs:.3e} {self.mean_abs:.3e}"


def compare(name: str, actual: torch.Tensor, expected: torch.Tensor, max_tol: float, mean_tol: float | None = None):
    if tuple(actual.shape) != tuple(expected.shape):
        return Comparison(
            f"{name}[shape {tuple(actual.shape)} != {tuple(expected.shape)}]", float("inf"), float("inf"), False
        )
    diff = (actual.double() - expected.double()).abs()
    max_abs, mean_abs = diff.max().item(), diff.mean().item()
    passed = max_abs <= max_tol and (mean_tol is None or mean_abs <= mean_tol)
    return Comparison(name, max_abs, mean_abs, passed)


def run_forward(case: str, meta: dict, tensors: dict, models: VividVRModels) -> list[Comparison]:
    texts = meta["negative_prompts"] + meta["prompts"]
    ids = models.tokenizer(
        texts,
        padding="max_length",
        max_length=meta.get("max_sequence_length", MAX_TEXT_TOKENS),
        truncation=True,
        add_special_tokens=True,
        return_tensors="pt",
    ).input_ids
    recorded = tensors["input_ids"]
    same_rows = sorted(map(tuple, ids.tolist())) == sorted(map(tuple, recorded.tolist()))
    results = [Comparison(f"{case}.input_ids", 0.0 if same_rows else float("inf"), 0.0, same_rows)]
    with torch.no_grad():
        embeds = models.text_encoder(ids)[0]
        negative, positive = embeds.chunk(2)
        results += [
            compare(f"{case}.negative_prompt_embeds", negative, tensors["negative_prompt_embeds"], FORWARD_TOL),
            compare(f"{case}.prompt_embeds", positive, tensors["prompt_embeds"], FORWARD_TOL),
        ]
        latents, control = tensors["latents"], tensors["control_latents"]
        cos, sin = _rotary_embedding(latents.shape, models.transformer.config, "cpu")
        results += [
            compare(f"{case}.rope_cos", cos, tensors["rope_cos"], FORWARD_TOL),
            compare(f"{case}.rope_sin", sin, tensors["rope_sin"], FORWARD_TOL),
        ]
        text = torch.cat([tensors["negative_prompt_embeds"], tensors["prompt_embeds"]])
        batch_latents, batch_control = torch.cat([latents] * 2), torch.cat([control] * 2)
        timestep = torch.tensor([meta["timestep"]])
        states = models.controlnet(batch_latents, text, batch_control, timestep, (cos, sin))
        for index, state in enumerate(states):
            key = f"controlnet_block_{index}"
            if key in tensors:
                results.append(compare(f"{case}.{key}", state, tensors[key], FORWARD_TOL))
        noise_pred = models.transformer(
            torch.cat([batch_latents, batch_control], dim=2), text, timestep, (cos, sin), states
        )
        results.append(compare(f"{case}.noise_pred", noise_pred, tensors["noise_pred"], FORWARD_TOL))
    return results


def run_scheduler(case: str, meta: dict, tensors: dict, models: VividVRModels) -> list[Comparison]:
    scheduler = models.scheduler
    scheduler.set_timesteps(meta["num_inference_steps"])
    results = []
    for run in meta["steps"]:
        scale = run["restoration_guidance_scale"]
        generator = torch.Generator("cpu").manual_seed(run["generator_seed"])
        sample, x0 = tensors["sample"], None
        for j, step_index in enumerate(meta["step_indices"]):
            previous = x0 if j > 0 else None
            sample, x0 = solver_step(
                scheduler,
                tensors[f"model_output_{j}"],
                sample,
                previous,
                step_index,
                generator,
                tensors["restoration_ori_latent"],
                scale,
            )
            for name, value in ((f"rgs{scale}_prev_sample_{j}", sample), (f"rgs{scale}_pred_original_{j}", x0)):
                results.append(compare(f"{case}.{name}", value, tensors[name], SCHEDULER_TOL))
    return results


def run_restore(case: str, meta: dict, tensors: dict, models: VividVRModels) -> list[Comparison]:
    settings = RestoreSettings(
        num_inference_steps=meta["num_inference_steps"],
        guidance_scale=meta["guidance_scale"],
        restoration_guidance_scale=meta.get("restoration_guidance_scale", -1.0),
        upscale=meta["upscale"],
        tile_size=meta["tile_size"],
        num_temporal_process_frames=meta["num_temporal_process_frames"],
        seed=meta["seed"],
    )
    _check_prompt_texts(meta)
    calls = [
        RecordedCall(c["frames"], c["height"], c["width"], c["fps"], c["caption"]) for c in meta["captioner_calls"]
    ]
    captioner = RecordedCaptioner(calls)
    engine = VividVREngine(models, captioner)
    source = tensors["input"].permute(0, 2, 3, 1).numpy()
    clip = ArrayClip(source, meta["fps"])
    traced: dict[str, torch.Tensor] = {}
    sink = MemorySink()
    engine.restore(clip, sink, settings, trace=lambda name, tensor: traced.setdefault(name, tensor.clone()))
    results = []
    geometry = plan_geometry(clip.height, clip.width, settings)
    control = torch.stack([resize_frame(frame, geometry) for frame in source])
    results.append(compare(f"{case}.control_video", control, tensors["control_video"], PREPARED_TOL))
    prepared = ("control_latents", "initial_latents", "prompt_embeds", "negative_prompt_embeds")
    for w in range(meta.get("num_windows", 1)):
        for name in (*prepared, "final_latents", "decoded_frames"):
            key = f"window{w}.{name}"
            if key not in tensors:
                continue
            if key not in traced:
                results.append(Comparison(f"{case}.{key}[not produced]", float("inf"), float("inf"), False))
                continue
            if name in prepared:
                tol, mean_tol = PREPARED_TOL, None
            elif name == "final_latents":
                tol, mean_tol = LATENT_TOL, None
            else:
                tol, mean_tol = FRAME_MAX_TOL, FRAME_MEAN_TOL
            results.append(compare(f"{case}.{key}", traced[key], tensors[key], tol, mean_tol))
    if "generator_state_before_denoising" in tensors:
        same = torch.equal(traced["generator_state_before_denoising"], tensors["generator_state_before_denoising"])
        results.append(Comparison(f"{case}.generator_state_before_denoising", 0.0 if same else 1.0, 0.0, same))
    kept = [traced[f"window{w}.kept_raw"] for w in range(len(traced)) if f"window{w}.kept_raw" in traced]
    raw = torch.cat(kept)
    results.append(compare(f"{case}.raw_output", raw, tensors["raw_output"], FRAME_MAX_TOL, FRAME_MEAN_TOL))
    output = torch.from_numpy(sink.frames).permute(0, 3, 1, 2)
    results.append(compare(f"{case}.output", output, tensors["output"], FRAME_MAX_TOL, FRAME_MEAN_TOL))
    if captioner.unused:
        results.append(Comparison(f"{case}.captioner_calls[{captioner.unused} unused]", 1.0, 0.0, False))
    return results


def _check_prompt_texts(meta: dict) -> None:
    """The recorded suffix and negative prompt must be the ones this engine uses."""
    if "positive_suffix" in meta and prompt_for("") != f" {meta['positive_suffix']}":
        raise ValueError("the case's positive_suffix differs from the engine's")
    if "negative_prompt" in meta and meta["negative_prompt"] != NEGATIVE_PROMPT:
        raise ValueError("the case's negative_prompt differs from the engine's")


RUNNERS: dict[str, Callable[[str, dict, dict, VividVRModels], list[Comparison]]] = {
    "forward": run_forward,
    "scheduler": run_scheduler,
    "restore": run_restore,
}


def run_folder(vectors: Path, checkpoints: Path, out=None) -> bool:
    out = out or sys.stdout
    cases = sorted(vectors.glob("*.json"))
    if not cases:
        print(f"no cases (*.json) in {vectors}", file=out)
        return False
    models = load_models(CheckpointPaths.from_root(checkpoints))
    all_passed = True
    for path in cases:
        meta = json.loads(path.read_text())
        name = meta.get("case", path.stem)
        runner = RUNNERS.get(meta.get("kind"))
        if runner is None:
            print(f"{name} FAIL unknown kind {meta.get('kind')!r}", file=out)
            all_passed = False
            continue
        try:
            results = runner(name, meta, load_file(path.with_suffix(".safetensors")), models)
        except Exception as exc:
            traceback.print_exc()
            print(f"{name} FAIL {exc.__class__.__name__}: {exc}", file=out)
            all_passed = False
            continue
        for result in results:
            print(result.line(), file=out, flush=True)
            all_passed &= result.passed
    return all_passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vividvr_engine.conformance",
        description="Check this engine against reference vectors recorded from the authors' code.",
    )
    parser.add_argument("vectors", type=Path, help="folder of NAME.json + NAME.safetensors cases")
    parser.add_argument("--checkpoints", type=Path, required=True, help="checkpoint root in the published layout")
    args = parser.parse_args(argv)
    return 0 if run_folder(args.vectors, args.checkpoints) else 1


if __name__ == "__main__":
    sys.exit(main())
