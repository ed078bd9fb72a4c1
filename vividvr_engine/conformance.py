"""Run reference vector cases against this engine: `python -m vividvr_engine.conformance VECTORS --checkpoints CKPT`.

Each case is NAME.json (its `kind` is `forward`, `scheduler` or `restore`) plus NAME.safetensors.
One line is printed per check: `case.tensor PASS|FAIL max_abs mean_abs`; the exit status is
non-zero if anything fails. The runner cannot pass by looking away: every recorded tensor must be
read by a check (an extra controlnet block, scheduler run or window fails as "not compared"), a
.json without its .safetensors (or the reverse) fails, a case named with `--expect` must be
there, and the planned geometry (generation size, output shape, windows) must match the JSON.
`--batch-tiles N` runs the restore cases with N (window, tile) evaluations per forward pass, to
show that batching stays within the same tolerances.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
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
from vividvr_engine.planning import VAE_TEMPORAL, plan_windows
from vividvr_engine.settings import RestoreSettings

# Tolerances from ../shared/reference/README.md; "exact" tensors are computed before any model runs.
FORWARD_TOL = 1e-3
SCHEDULER_TOL = 1e-5
PREPARED_TOL = 1e-4
LATENT_TOL = 2e-2
FRAME_MAX_TOL, FRAME_MEAN_TOL = 2e-2, 2e-3
WINDOW_KEY = re.compile(r"^window(\d+)\.(.+)$")


@dataclass
class Comparison:
    name: str
    max_abs: float
    mean_abs: float
    passed: bool

    def line(self) -> str:
        return f"{self.name} {'PASS' if self.passed else 'FAIL'} {self.max_abs:.3e} {self.mean_abs:.3e}"


def failure(name: str) -> Comparison:
    return Comparison(name, float("inf"), float("inf"), False)


def compare(name: str, actual: torch.Tensor, expected: torch.Tensor, max_tol: float, mean_tol: float | None = None):
    if tuple(actual.shape) != tuple(expected.shape):
        return failure(f"{name}[shape {tuple(actual.shape)} != {tuple(expected.shape)}]")
    diff = (actual.double() - expected.double()).abs()
    max_abs, mean_abs = diff.max().item(), diff.mean().item()
    passed = max_abs <= max_tol and (mean_tol is None or mean_abs <= mean_tol)
    return Comparison(name, max_abs, mean_abs, passed)


def equal(name: str, actual: object, expected: object) -> Comparison:
    """An exact check of a planned value (a size, a count, token ids) against the recording."""
    if actual == expected:
        return Comparison(name, 0.0, 0.0, True)
    return failure(f"{name}[{actual!r} != recorded {expected!r}]")


class Recorded:
    """A case's tensors; remembers which ones a check read, so none can be left unchecked."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self._tensors = tensors
        self._read: set[str] = set()

    def __getitem__(self, key: str) -> torch.Tensor:
        self._read.add(key)
        return self._tensors[key]

    def __contains__(self, key: str) -> bool:
        return key in self._tensors

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def unread(self) -> list[str]:
        return sorted(set(self._tensors) - self._read)


def run_forward(case: str, meta: dict, tensors: Recorded, models: VividVRModels, batch_tiles: int) -> list[Comparison]:
    # The recording holds the rows in the order the reference tokenizes them: the prompts, then
    # the negative prompts (the README's "negative then positive" describes the CFG batch, not
    # these rows; the shared `forward` case has the positive row first). Row order is checked.
    texts = meta["prompts"] + meta["negative_prompts"]
    ids = models.tokenizer(
        texts,
        padding="max_length",
        max_length=meta.get("max_sequence_length", MAX_TEXT_TOKENS),
        truncation=True,
        add_special_tokens=True,
        return_tensors="pt",
    ).input_ids
    results = [equal(f"{case}.input_ids", ids.tolist(), tensors["input_ids"].tolist())]
    positive, negative = ids[: len(meta["prompts"])], ids[len(meta["prompts"]) :]
    if "timestep_index" in meta:
        models.scheduler.set_timesteps(meta["num_inference_steps"])
        planned = int(models.scheduler.timesteps[meta["timestep_index"]])
        results.append(equal(f"{case}.timestep", planned, meta["timestep"]))
    with torch.no_grad():
        results += [
            compare(
                f"{case}.negative_prompt_embeds",
                models.text_encoder(negative)[0],
                tensors["negative_prompt_embeds"],
                FORWARD_TOL,
            ),
            compare(f"{case}.prompt_embeds", models.text_encoder(positive)[0], tensors["prompt_embeds"], FORWARD_TOL),
        ]
        latents, control = tensors["latents"], tensors["control_latents"]
        cos, sin = _rotary_embedding(latents.shape, models.transformer.config, "cpu")
        results += [
            compare(f"{case}.rope_cos", cos, tensors["rope_cos"], FORWARD_TOL),
            compare(f"{case}.rope_sin", sin, tensors["rope_sin"], FORWARD_TOL),
        ]
        text = torch.cat([tensors["negative_prompt_embeds"], tensors["prompt_embeds"]])
        batch_latents = torch.cat([latents] * 2)  # the CFG copies share one control row, as in the engine
        timestep = torch.tensor([meta["timestep"]])
        states = models.controlnet(batch_latents, text, control, timestep, (cos, sin))
        for index, state in enumerate(states):  # a recorded block this model lacks stays unread: FAIL
            key = f"controlnet_block_{index}"
            if key in tensors:
                results.append(compare(f"{case}.{key}", state, tensors[key], FORWARD_TOL))
        noise_pred = models.transformer(batch_latents, text, timestep, (cos, sin), states, control)
        results.append(compare(f"{case}.noise_pred", noise_pred, tensors["noise_pred"], FORWARD_TOL))
    return results


def run_scheduler(case: str, meta: dict, tensors: Recorded, models: VividVRModels, batch_tiles: int
                  ) -> list[Comparison]:
    scheduler = models.scheduler
    scheduler.set_timesteps(meta["num_inference_steps"])
    results = []
    for run in meta["steps"]:
        scale = run["restoration_guidance_scale"]
        if "timesteps" in run:
            planned = [int(scheduler.timesteps[i]) for i in meta["step_indices"]]
            results.append(equal(f"{case}.rgs{scale}_timesteps", planned, run["timesteps"]))
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


def restore_settings(meta: dict) -> RestoreSettings:
    return RestoreSettings(
        num_inference_steps=meta["num_inference_steps"],
        guidance_scale=meta["guidance_scale"],
        restoration_guidance_scale=meta.get("restoration_guidance_scale", -1.0),
        upscale=meta["upscale"],
        tile_size=meta["tile_size"],
        num_temporal_process_frames=meta["num_temporal_process_frames"],
        seed=meta["seed"],
    )


def check_plan(case: str, meta: dict, settings: RestoreSettings, frames: int, height: int, width: int):
    """The engine's planned sizes and windows against every one the JSON records."""
    geometry = plan_geometry(height, width, settings)
    windows = plan_windows(frames, settings.num_temporal_process_frames)
    planned = {
        "input_shape": [frames, 3, height, width],
        "output_shape": [frames, 3, geometry.out_height, geometry.out_width],
        "gen_height": geometry.gen_height,
        "gen_width": geometry.gen_width,
        "tile_stride": settings.tile_size // 2,
        "num_windows": len(windows),
    }
    results = [equal(f"{case}.{key}", value, meta[key]) for key, value in planned.items() if key in meta]
    if "windows" in meta:
        per_window = [
            {
                "do_classifier_free_guidance": settings.guidance_scale > 1.0,
                "num_latent_padding_frames": w.latent_frames - ((w.padded_frames - 1) // VAE_TEMPORAL + 1),
                "height": geometry.gen_height,
                "width": geometry.gen_width,
                "ori_height": geometry.out_height,
                "ori_width": geometry.out_width,
            }
            for w in windows
        ]
        results.append(equal(f"{case}.windows[count]", len(per_window), len(meta["windows"])))
        for index, (ours, recorded) in enumerate(zip(per_window, meta["windows"], strict=False)):
            results += [
                equal(f"{case}.windows[{index}].{key}", ours.get(key, "(not planned)"), value)
                for key, value in recorded.items()
            ]
    return results, windows


def run_restore(case: str, meta: dict, tensors: Recorded, models: VividVRModels, batch_tiles: int) -> list[Comparison]:
    settings = restore_settings(meta)
    _check_prompt_texts(meta)
    calls = [
        RecordedCall(c["frames"], c["height"], c["width"], c["fps"], c["caption"]) for c in meta["captioner_calls"]
    ]
    captioner = RecordedCaptioner(calls)
    engine = VividVREngine(models, captioner, batch_tiles=batch_tiles)
    source = tensors["input"].permute(0, 2, 3, 1).numpy()
    clip = ArrayClip(source, meta["fps"])
    results, windows = check_plan(case, meta, settings, clip.num_frames, clip.height, clip.width)
    traced: dict[str, torch.Tensor] = {}
    sink = MemorySink()
    engine.restore(clip, sink, settings, trace=lambda name, tensor: traced.setdefault(name, tensor.clone()))
    geometry = plan_geometry(clip.height, clip.width, settings)
    control = torch.stack([resize_frame(frame, geometry) for frame in source])
    results.append(compare(f"{case}.control_video", control, tensors["control_video"], PREPARED_TOL))
    results += _compare_windows(case, tensors, traced, len(windows))
    if "generator_state_before_denoising" in tensors:
        same = torch.equal(traced["generator_state_before_denoising"], tensors["generator_state_before_denoising"])
        results.append(Comparison(f"{case}.generator_state_before_denoising", 0.0 if same else 1.0, 0.0, same))
    raw = torch.cat([traced[f"window{w}.kept_raw"] for w in range(len(windows))])
    results.append(compare(f"{case}.raw_output", raw, tensors["raw_output"], FRAME_MAX_TOL, FRAME_MEAN_TOL))
    output = torch.from_numpy(sink.frames).permute(0, 3, 1, 2)
    results.append(compare(f"{case}.output", output, tensors["output"], FRAME_MAX_TOL, FRAME_MEAN_TOL))
    if captioner.unused:
        results.append(failure(f"{case}.captioner_calls[{captioner.unused} unused]"))
    return results


def _compare_windows(case: str, tensors: Recorded, traced: dict, planned: int) -> list[Comparison]:
    """Every `windowN.` tensor the case holds, whatever `num_windows` says; unknown names stay unread."""
    tolerances = {
        "control_latents": (PREPARED_TOL, None),
        "initial_latents": (PREPARED_TOL, None),
        "prompt_embeds": (PREPARED_TOL, None),
        "negative_prompt_embeds": (PREPARED_TOL, None),
        "final_latents": (LATENT_TOL, None),
        "decoded_frames": (FRAME_MAX_TOL, FRAME_MEAN_TOL),
    }
    recorded = sorted((int(m[1]), m[2], key) for key in tensors if (m := WINDOW_KEY.match(key)))
    results = []
    seen = sorted({w for w, _, _ in recorded})
    if seen and seen != list(range(planned)):
        results.append(failure(f"{case}.windows[recorded {seen}, planned {list(range(planned))}]"))
    for _window, name, key in recorded:
        if name not in tolerances:
            continue
        if key not in traced:  # left unread too, so also reported as not compared
            results.append(failure(f"{case}.{key}[not produced]"))
            continue
        results.append(compare(f"{case}.{key}", traced[key], tensors[key], *tolerances[name]))
    return results


def _check_prompt_texts(meta: dict) -> None:
    """The recorded suffix and negative prompt must be the ones this engine uses."""
    if "positive_suffix" in meta and prompt_for("") != f" {meta['positive_suffix']}":
        raise ValueError("the case's positive_suffix differs from the engine's")
    if "negative_prompt" in meta and meta["negative_prompt"] != NEGATIVE_PROMPT:
        raise ValueError("the case's negative_prompt differs from the engine's")


RUNNERS: dict[str, Callable[[str, dict, Recorded, VividVRModels, int], list[Comparison]]] = {
    "forward": run_forward,
    "scheduler": run_scheduler,
    "restore": run_restore,
}


def run_case(path: Path, models: VividVRModels, batch_tiles: int = 1) -> list[Comparison]:
    """All checks of one case, ending with a failure for each recorded tensor no check read."""
    meta = json.loads(path.read_text())
    name = meta.get("case", path.stem)
    runner = RUNNERS.get(meta.get("kind"))
    if runner is None:
        return [failure(f"{name}[unknown kind {meta.get('kind')!r}]")]
    tensors = Recorded(load_file(path.with_suffix(".safetensors")))
    results = runner(name, meta, tensors, models, batch_tiles)
    results += [failure(f"{name}.{key}[recorded, not compared]") for key in tensors.unread()]
    return results or [failure(f"{name}[no checks]")]


def _case_files(vectors: Path) -> tuple[list[Path], list[str]]:
    """(cases with both files, one problem line per orphan file)."""
    jsons = {p.stem: p for p in vectors.glob("*.json")}
    tensors = {p.stem for p in vectors.glob("*.safetensors")}
    problems = [f"{stem} FAIL orphan {stem}.json: no {stem}.safetensors" for stem in sorted(set(jsons) - tensors)]
    problems += [f"{stem} FAIL orphan {stem}.safetensors: no {stem}.json" for stem in sorted(tensors - set(jsons))]
    return [jsons[stem] for stem in sorted(set(jsons) & tensors)], problems


def run_folder(vectors: Path, checkpoints: Path, out=None, expect: Iterable[str] = (), batch_tiles: int = 1) -> bool:
    out = out or sys.stdout
    cases, problems = _case_files(vectors)
    present = {p.stem for p in cases} | {json.loads(p.read_text()).get("case", p.stem) for p in cases}
    problems += [f"{name} FAIL expected case missing" for name in expect if name not in present]
    for line in problems:
        print(line, file=out)
    if not cases:
        print(f"no cases (*.json with *.safetensors) in {vectors}", file=out)
        return False
    models = load_models(CheckpointPaths.from_root(checkpoints))
    all_passed = not problems
    for path in cases:
        try:
            results = run_case(path, models, batch_tiles)
        except Exception as exc:
            traceback.print_exc()
            print(f"{path.stem} FAIL {exc.__class__.__name__}: {exc}", file=out)
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
    parser.add_argument(
        "--expect",
        type=lambda text: [name for name in text.split(",") if name],
        default=[],
        metavar="NAME,...",
        help="cases that must be present (a missing one fails)",
    )
    parser.add_argument("--batch-tiles", type=int, default=1, metavar="N",
                        help="(window, tile) evaluations per forward pass in restore cases (default 1)")
    args = parser.parse_args(argv)
    if args.batch_tiles < 1:
        parser.error("--batch-tiles must be at least 1")
    return 0 if run_folder(args.vectors, args.checkpoints, expect=args.expect, batch_tiles=args.batch_tiles) else 1


if __name__ == "__main__":
    sys.exit(main())
