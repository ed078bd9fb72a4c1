"""Judge a checkpoint folder against the published files without the network.

`quick` (the engine before loading): every file is present and whole (safetensors headers match the
file sizes, `.pt` archives are intact, release files have their published size). `sizes`
(`vividvr doctor`) adds: each safetensors weight set holds as many bytes of tensor data as the
published one (derived from the manifest's shapes and dtypes).
`thorough` (`vividvr models verify` when the hub cannot be asked): also every tensor's name and shape
against the shipped manifest, and release files' SHA-256.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from vividvr_engine.published import CRAFT, REQUIRED, Required, manifest
from vividvr_engine.weights_check import (
    WeightsProblem,
    compare_tensors,
    data_bytes,
    dtype_notes,
    integrity_check,
    sha256_of,
    tensor_specs,
    weight_set_files,
)

Locate = Callable[[str], Path]  # a path under the checkpoint root -> where it is on disk


@dataclass(frozen=True)
class Finding:
    """One file that is missing or not the published one (or, with `note`, differs harmlessly)."""

    part: str
    required: Required
    path: Path
    problem: str
    note: bool = False

    def line(self) -> str:
        return f"{self.problem}; expected {self.required.what}, published at {self.required.source.url}"


def requirements(parts: Iterable[str]) -> list[tuple[str, Required]]:
    """(part, requirement) for the parts, each file once."""
    seen, chosen = set(), []
    for part in parts:
        for item in REQUIRED[part]:
            if item.path not in seen:
                seen.add(item.path)
                chosen.append((part, item))
    return chosen


def _craft_fallback(path: Path) -> Path:
    """EasyOCR's detector may come from its pip package instead of the checkpoint folder."""
    if path.is_file():
        return path
    from vividvr_engine.textfix import craft_path

    try:
        return craft_path(None)
    except Exception:  # the package is absent: report the folder's path
        return path


def _files_of(item: Required, located: Path) -> list[Path]:
    if item.kind == "weights":
        return weight_set_files(located.parent, located.name)
    if not located.is_file():
        raise WeightsProblem(f"missing {located}")
    return [located]


def _size_problem(files: list[Path], located: Path, expected: dict | None) -> list[str]:
    if expected is None or "tensor_bytes" not in expected or files[0].suffix != ".safetensors":
        return []
    held = sum(data_bytes(path) for path in files)
    if held == expected["tensor_bytes"]:
        return []
    return [f"{located}.safetensors holds {held} bytes of weights, the published file {expected['tensor_bytes']}"
            " (not the published checkpoint)"]


def _check_one(item: Required, located: Path, thorough: bool, sizes: bool) -> tuple[list[str], list[str]]:
    """(problems, notes) for one requirement."""
    try:
        files = _files_of(item, located)
        for path in files:
            if item.kind != "release":  # release files are judged by size and checksum alone
                integrity_check(path)
    except WeightsProblem as exc:
        return [str(exc)], []
    if item.kind == "release":
        size = files[0].stat().st_size
        if size != item.source.size:
            return [f"{files[0]} is {size} bytes, the published file {item.source.size}"], []
        if thorough and sha256_of(files[0]) != item.source.sha256:
            return [f"{files[0]} has another SHA-256 than the published file ({item.source.sha256})"], []
        return [], []
    expected = manifest()["weights"].get(item.path)
    if sizes and not thorough:
        return _size_problem(files, located, expected), []
    if not thorough or expected is None:
        return [], []
    try:
        found = {name: spec for path in files for name, spec in tensor_specs(path).items()}
    except WeightsProblem as exc:
        return [str(exc)], []
    label = str(files[0]) if len(files) == 1 else f"{located} ({len(files)} shards)"
    problems = compare_tensors(found, expected["tensors"])
    notes = dtype_notes(found, expected["tensors"])
    return [f"{label} is not the published file: {'; '.join(problems)}"] if problems else [], [
        f"{label} {n}" for n in notes
    ]


def check(parts: Iterable[str], locate: Locate, thorough: bool = False, sizes: bool = False) -> list[Finding]:
    """Every problem (and note) with the parts' files, in the order the parts list them."""
    findings = []
    for part, item in requirements(parts):
        located = locate(item.path)
        if item.source is CRAFT:
            located = _craft_fallback(located)
        problems, notes = _check_one(item, located, thorough, sizes)
        findings += [Finding(part, item, located, p) for p in problems]
        findings += [Finding(part, item, located, n, note=True) for n in notes]
    return findings


def under(root: Path) -> Locate:
    return lambda relative: Path(root) / relative
