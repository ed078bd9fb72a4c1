"""A checkpoint folder with the published Vivid-VR layout and sizes, but no weights.

Each .safetensors file holds only its header (8-byte length, JSON table of the real tensor names,
dtypes and shapes from data/published_vividvr.json.gz); sharded parts get an index as on Hugging
Face. The .pt state dicts are sparse files of their float32 size. Anything that reads tensor data
from these files fails, so an estimate that works on them read the headers alone.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

MANIFEST = Path(__file__).parent / "data" / "published_vividvr.json.gz"
STEMS = {"CogVideoX1.5-5B/text_encoder": "model"}


def published_manifest() -> dict:
    with gzip.open(MANIFEST, "rt") as file:
        return json.load(file)


def write_header_only(path: Path, tensors: list, dtype: str = "BF16") -> None:
    header, offset = {}, 0
    for name, shape in tensors:
        size = 2
        for side in shape:
            size *= side
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text)


def write_published_tree(root: Path) -> Path:
    manifest = published_manifest()
    for part, entry in manifest["parts"].items():
        folder = root / part
        folder.mkdir(parents=True)
        if entry["config"] is not None:
            (folder / "config.json").write_text(json.dumps(entry["config"]))
        stem = STEMS.get(part, "diffusion_pytorch_model")
        count, tensors = entry["shards"], entry["tensors"]
        if count == 1:
            write_header_only(folder / f"{stem}.safetensors", tensors)
            continue
        weight_map = {}
        for shard in range(count):
            name = f"{stem}-{shard + 1:05d}-of-{count:05d}.safetensors"
            chunk = tensors[shard::count]
            write_header_only(folder / name, chunk)
            weight_map.update({tensor: name for tensor, _shape in chunk})
        (folder / f"{stem}.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    for name, parameters in manifest["pt_parameters"].items():
        with open(root / "Vivid-VR" / f"{name}.pt", "wb") as file:
            file.truncate(parameters * 4)
    return root
