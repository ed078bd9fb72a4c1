"""Check weight files without loading them: complete on disk, and holding the tensors the manifest names.

safetensors files are judged from their JSON header alone (it states every tensor's name, shape, dtype
and byte range, so a truncated file shows at once); `.pt` files are zip archives whose directory sits
at the end, so truncation breaks them, and their tensors are read memory-mapped with
`weights_only=True`.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HEADER_LIMIT = 100 * 2**20  # safetensors caps its header at 100 MB
PT_DTYPES = {"torch.float32": "F32", "torch.bfloat16": "BF16", "torch.float16": "F16"}


class WeightsProblem(ValueError):
    """A weight file that is missing, incomplete or unreadable; the message names it and why."""


def weight_set_files(folder: Path, stem: str) -> list[Path]:
    """The files of a weight set: `<stem>.safetensors`, or every shard its index names."""
    single = folder / f"{stem}.safetensors"
    index = folder / f"{stem}.safetensors.index.json"
    if single.is_file():
        return [single]
    if not index.is_file():
        raise WeightsProblem(f"missing {single} (or a sharded {index.name})")
    try:
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise WeightsProblem(f"{index} is not a safetensors index (no weight_map)") from None
    missing = [str(folder / s) for s in shards if not (folder / s).is_file()]
    if missing:
        raise WeightsProblem(f"missing weight shards {', '.join(missing)} named by {index.name}")
    return [folder / s for s in shards]


def _read_header(path: Path) -> tuple[dict[str, Any], int]:
    """(tensor name -> {"dtype", "shape", "data_offsets"}, header length), reading the header alone."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        head = stream.read(8)
        if len(head) < 8:
            raise WeightsProblem(f"{path} is {size} bytes: too short for a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length > min(HEADER_LIMIT, size - 8):
            raise WeightsProblem(f"{path} is not a safetensors file, or its header is cut off ({size} bytes)")
        try:
            header = json.loads(stream.read(length))
        except ValueError:
            raise WeightsProblem(f"{path} has an unreadable safetensors header") from None
    if not isinstance(header, dict):
        raise WeightsProblem(f"{path} has an unreadable safetensors header")
    header.pop("__metadata__", None)
    return header, length


def declared_tensors(path: Path) -> dict[str, Any]:
    """The tensors a safetensors header declares, without checking the data is there (enough for sizing)."""
    return _read_header(path)[0]


def safetensors_header(path: Path) -> dict[str, Any]:
    """Tensor name -> {"dtype", "shape", "data_offsets"}; raises when the file is not a whole safetensors file."""
    header, length = _read_header(path)
    size = path.stat().st_size
    end = 8 + length + max((t["data_offsets"][1] for t in header.values()), default=0)
    if size != end:
        what = "truncated" if size < end else "longer than its header says"
        raise WeightsProblem(f"{path} is {what}: {size} bytes, its header describes {end}")
    return header


def data_bytes(path: Path) -> int:
    """Bytes of tensor data a safetensors file holds (what the published size of a weight set is about)."""
    return sum(t["data_offsets"][1] - t["data_offsets"][0] for t in safetensors_header(path).values())


def pt_archive_check(path: Path) -> None:
    """A `.pt` file is a zip whose directory is at its end: a cut-off download is not a zip any more."""
    if not zipfile.is_zipfile(path):
        size = path.stat().st_size
        raise WeightsProblem(f"{path}: not a readable PyTorch weights file (cut off, or not one at all: {size} bytes)")


def tensor_specs(path: Path) -> dict[str, tuple[list[int], str]]:
    """Name -> (shape, dtype name) of every tensor in a safetensors or `.pt` file."""
    if path.suffix == ".safetensors":
        return {k: (list(v["shape"]), v["dtype"]) for k, v in safetensors_header(path).items()}
    pt_archive_check(path)
    import torch

    try:
        state = torch.load(path, map_location="meta", weights_only=True, mmap=True)
    except Exception as exc:  # corrupt archives raise many types
        raise WeightsProblem(f"{path}: not a readable PyTorch weights file ({type(exc).__name__})") from None
    if not isinstance(state, Mapping):
        raise WeightsProblem(f"{path} holds a {type(state).__name__}, not a state dict")
    return {str(k): (list(v.shape), PT_DTYPES.get(str(v.dtype), str(v.dtype))) for k, v in state.items()}


def integrity_check(path: Path) -> None:
    """Cheap completeness check for one weight file (header or zip directory; nothing is loaded)."""
    if path.suffix == ".safetensors":
        safetensors_header(path)
    elif path.suffix in (".pt", ".pth"):
        pt_archive_check(path)


def compare_tensors(found: Mapping[str, tuple[list[int], str]], expected: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What differs between a file's tensors and the manifest's, briefly: counts and the first few names."""
    problems = []
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing:
        problems.append(f"{len(missing)} of the published {len(expected)} tensors are missing (e.g. {missing[0]!r})")
    if extra:
        problems.append(f"{len(extra)} tensors the published file does not have (e.g. {extra[0]!r})")
    wrong = [n for n in sorted(set(found) & set(expected)) if found[n][0] != list(expected[n]["shape"])]
    if wrong:
        name = wrong[0]
        problems.append(
            f"{len(wrong)} tensors have other shapes (e.g. {name!r} is {found[name][0]}, "
            f"published {expected[name]['shape']})"
        )
    return problems


def dtype_notes(found: Mapping[str, tuple[list[int], str]], expected: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """dtypes that differ from the published ones: loading casts them, so these are notes, not failures."""
    seen = {found[n][1] for n in found if n in expected and expected[n].get("dtype") not in (None, found[n][1])}
    published = {expected[n]["dtype"] for n in expected if expected[n].get("dtype")}
    if not seen:
        return []
    return [f"stores {', '.join(sorted(seen))}; the published file stores {', '.join(sorted(published))}"]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()
