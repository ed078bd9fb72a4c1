"""Find, validate and load the published checkpoints, laid out exactly as the authors publish them.

    ROOT/
      CogVideoX1.5-5B/          Hugging Face zai-org/CogVideoX1.5-5B (scheduler, text_encoder, tokenizer,
                                transformer, vae)
      Vivid-VR/                 Hugging Face csbhr/Vivid-VR (controlnet/, connectors.pt,
                                control_feat_proj.pt, control_patch_embed.pt)
      cogvlm2-llama3-caption/   Hugging Face zai-org/cogvlm2-llama3-caption (optional captioner)
      RealESRGAN/, easyocr/     optional, for the text fix

Everything is checked before anything heavy is loaded, and every problem is reported at once,
naming the file, what it should be, and where it is published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vividvr_engine.checkpoint_verify import check
from vividvr_engine.errors import CheckpointError
from vividvr_engine.published import CAPTIONER, COGVIDEOX, VIVIDVR

COGVIDEOX_REPO = COGVIDEOX.repo
VIVIDVR_REPO = VIVIDVR.repo
CAPTIONER_DIR = CAPTIONER.folder  # its folder under the checkpoint root


@dataclass(frozen=True)
class CheckpointPaths:
    """Where each part lives; `from_root` fills them from the published layout."""

    cogvideox: Path
    controlnet: Path
    connectors: Path
    control_feat_proj: Path
    control_patch_embed: Path
    captioner: Path | None = None
    realesrgan: Path | None = None
    easyocr: Path | None = None

    @classmethod
    def from_root(cls, root: Path | str, **overrides: Path | str | None) -> CheckpointPaths:
        root = Path(root).expanduser()
        vividvr = root / "Vivid-VR"
        paths = cls(
            cogvideox=root / "CogVideoX1.5-5B",
            controlnet=vividvr / "controlnet",
            connectors=vividvr / "connectors.pt",
            control_feat_proj=vividvr / "control_feat_proj.pt",
            control_patch_embed=vividvr / "control_patch_embed.pt",
            captioner=_if_exists(root / CAPTIONER_DIR),
            realesrgan=_if_exists(root / "RealESRGAN"),
            easyocr=_if_exists(root / "easyocr"),
        )
        given = {name: Path(value).expanduser() for name, value in overrides.items() if value is not None}
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown checkpoint parts: {', '.join(sorted(unknown))}")
        return replace(paths, **given)

    def locate(self, relative: str) -> Path:
        """Where a file of the published layout (a path under the root) is, honouring per-part overrides."""
        parts = {
            "CogVideoX1.5-5B": self.cogvideox,
            "Vivid-VR/controlnet": self.controlnet,
            "Vivid-VR/connectors.pt": self.connectors,
            "Vivid-VR/control_feat_proj.pt": self.control_feat_proj,
            "Vivid-VR/control_patch_embed.pt": self.control_patch_embed,
        }
        for prefix, path in parts.items():
            if relative == prefix or relative.startswith(prefix + "/"):
                return path / relative[len(prefix) + 1 :] if relative != prefix else path
        return self.cogvideox.parent / relative

    def validate(self) -> None:
        """Raise one `CheckpointError` listing every missing, incomplete or mismatched file.

        Which files, and what makes one whole, come from the published manifest (`published.py`);
        nothing heavy is read: safetensors headers and zip directories only.
        """
        problems = [f.line() for f in check(["vividvr"], self.locate) if not f.note]
        problems += _check_classes(self)
        if problems:
            raise CheckpointError(
                "the checkpoints are incomplete:\n  " + "\n  ".join(problems) + "\n"
                "Download them with `vividvr models download` (see README: 'Checkpoints'), or use --engine preview."
            )


def _if_exists(path: Path) -> Path | None:
    return path if path.exists() else None


CONFIG_CLASSES = {
    "transformer": ("CogVideoXTransformer3DModel", "the CogVideoX 1.5 transformer"),
    "vae": ("AutoencoderKLCogVideoX", "the CogVideoX VAE"),
}


def _check_classes(paths: CheckpointPaths):
    """Configs that are present but describe another network than the one Vivid-VR needs."""
    configs = [(paths.cogvideox / sub / "config.json", name, what, COGVIDEOX_REPO)
               for sub, (name, what) in CONFIG_CLASSES.items()]
    configs.append((paths.controlnet / "config.json", "CogVideoXVividVRControlNetModel", "the Vivid-VR controlnet",
                    VIVIDVR_REPO))
    for path, class_name, what, repo in configs:
        if path.is_file():
            yield from _check_config(path, class_name, what, repo)
    config = paths.cogvideox / "transformer" / "config.json"
    values = _read_json(config) if config.is_file() else None
    if isinstance(values, dict) and values.get("patch_size_t") is None:
        yield (
            f"{config} describes CogVideoX 1.0 (no patch_size_t); Vivid-VR needs CogVideoX 1.5, "
            f"published at https://huggingface.co/{COGVIDEOX_REPO}"
        )


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return exc


def _check_config(path: Path, class_name: str, what: str, repo: str):
    values = _read_json(path)
    if not isinstance(values, dict):
        yield f"{path} is not valid JSON ({values}); re-download {what} from https://huggingface.co/{repo}"
    elif values.get("_class_name") != class_name:
        yield (
            f"{path} is a {values.get('_class_name')!r} config, expected {class_name!r} ({what}) "
            f"from https://huggingface.co/{repo}"
        )


CAPTIONER_ARCHITECTURE = "CogVLMVideoForCausalLM"


def captioner_problems(folder: Path) -> list[str]:
    """What keeps the CogVLM2-Video folder from loading, read from its files alone (cheap: no weights)."""
    what = "the CogVLM2-Video captioner"
    if not folder.is_dir():
        return [f"missing {folder}: the folder of {what}, published at {CAPTIONER.url}"]
    problems = [
        f.line() for f in check(["caption"], lambda relative: folder / Path(relative).relative_to(CAPTIONER.folder))
        if not f.note
    ]
    config = folder / "config.json"
    values = _read_json(config) if config.is_file() else None
    if values is not None and (not isinstance(values, dict) or "vision_config" not in values):
        problems.append(f"{config} is not a CogVLM2 config; re-download {what} from {CAPTIONER.url}")
    elif isinstance(values, dict) and CAPTIONER_ARCHITECTURE not in values.get("architectures", []):
        problems.append(
            f"{config} describes {values.get('architectures')}, expected {CAPTIONER_ARCHITECTURE} ({what}) "
            f"from {CAPTIONER.url}"
        )
    return problems


def read_weights(path: Path) -> Any:
    """`torch.load` with pickled code refused; any failure becomes a one-line `CheckpointError`."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zips, truncated files and unsafe pickles raise many types
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch weights file ({detail[:200]})") from None


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], path: Path, what: str) -> None:
    """Load `state` into `module`, every key and shape exactly, or say which file does not fit `what`."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{path}: weights do not fit {what} ({detail})") from None


def load_state_dict_into(module: nn.Module, path: Path) -> None:
    """Load a published Vivid-VR `.pt` state dict into its module."""
    state = read_weights(path)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, expected a state dict of tensors")
    what = f"Vivid-VR's {path.stem} for the CogVideoX1.5-5B transformer (https://huggingface.co/{VIVIDVR_REPO})"
    load_strict(module, state, path, what)


@dataclass
class VividVRModels:
    """Every network the Vivid-VR sampler runs, loaded once and kept together."""

    tokenizer: object
    text_encoder: nn.Module
    vae: nn.Module
    transformer: nn.Module
    controlnet: nn.Module
    scheduler: object


def load_models(paths: CheckpointPaths, dtype: torch.dtype = torch.float32) -> VividVRModels:
    """Validate, then load every part on the CPU in `dtype` (the caller moves them to a device)."""
    paths.validate()
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
    from transformers import AutoTokenizer, T5EncoderModel

    from vividvr_engine.models import CogVideoXVividVRControlNetModel, VividVRTransformer

    root = paths.cogvideox
    try:
        tokenizer = AutoTokenizer.from_pretrained(root / "tokenizer")
        text_encoder = T5EncoderModel.from_pretrained(root / "text_encoder", dtype=dtype)
        vae = AutoencoderKLCogVideoX.from_pretrained(root / "vae", torch_dtype=dtype)
        base = CogVideoXTransformer3DModel.from_pretrained(root / "transformer", torch_dtype=dtype)
        controlnet = CogVideoXVividVRControlNetModel.from_pretrained(paths.controlnet, torch_dtype=dtype)
        # The published scheduler config names the DDIM variant; Vivid-VR samples with the DPM one.
        scheduler = CogVideoXDPMScheduler.from_pretrained(root / "scheduler")
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"could not load the checkpoints under {root.parent}: {exc}") from None
    transformer = VividVRTransformer(base)
    load_state_dict_into(transformer.connectors, paths.connectors)
    load_state_dict_into(transformer.control_feat_proj, paths.control_feat_proj)
    load_state_dict_into(transformer.control_patch_embed, paths.control_patch_embed)
    transformer.to(dtype)
    for model in (text_encoder, vae, transformer, controlnet):
        model.eval().requires_grad_(False)
    return VividVRModels(tokenizer, text_encoder, vae, transformer, controlnet, scheduler)
