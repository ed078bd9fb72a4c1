"""Where the lockstep's latent state lives between steps: RAM up to a budget, disk beyond it.

Each window's tensors are stored per step parity (two slots), and a small manifest names the
last step whose slots are complete. A crash mid-step therefore leaves the previous step intact,
and a resumed run continues from it bit for bit (the manifest also carries the random state).
Slot files are fsynced before they are renamed into place, and the folder is fsynced before and
after the manifest is replaced, so after a power cut the manifest never names a slot that is
not on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

MANIFEST = "manifest.json"


class LatentStore:
    def __init__(self, directory: Path | None, ram_budget_bytes: int, persistent: bool) -> None:
        """`persistent`: write everything to `directory` so a later run can resume from it."""
        self.persistent = persistent
        self._owns_directory = directory is None
        self.directory = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="vividvr-latents-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self._ram: dict[str, dict[str, torch.Tensor]] = {}
        self._ram_bytes = 0
        self._budget = ram_budget_bytes

    def write(self, key: str, tensors: dict[str, torch.Tensor]) -> None:
        tensors = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
        size = sum(t.numel() * t.element_size() for t in tensors.values())
        previous = self._ram.pop(key, None)
        if previous is not None:
            self._ram_bytes -= sum(t.numel() * t.element_size() for t in previous.values())
        if self._ram_bytes + size <= self._budget:
            self._ram[key] = tensors
            self._ram_bytes += size
        if self.persistent or key not in self._ram:
            _atomic_save(tensors, self.directory / f"{key}.safetensors")

    def read(self, key: str) -> dict[str, torch.Tensor]:
        if key in self._ram:
            return dict(self._ram[key])
        return load_file(self.directory / f"{key}.safetensors")

    def __contains__(self, key: str) -> bool:
        return key in self._ram or (self.directory / f"{key}.safetensors").is_file()

    @property
    def ram_bytes(self) -> int:
        return self._ram_bytes

    def commit(self, manifest: dict) -> None:
        """Record progress; only a persistent store keeps it."""
        if self.persistent:
            _fsync_directory(self.directory)  # the slots' renames are durable before the manifest names them
            _atomic_write(self.directory / MANIFEST, json.dumps(manifest).encode())
            _fsync_directory(self.directory)

    def load_manifest(self) -> dict | None:
        """The saved manifest, None when there is none; raises ValueError when it is unreadable."""
        path = self.directory / MANIFEST
        if not path.is_file():
            return None
        manifest = json.loads(path.read_text())
        if not isinstance(manifest, dict):
            raise ValueError(f"{path} holds no manifest")
        return manifest

    def check(self, key: str) -> None:
        """Raise unless `key`'s file is complete (safetensors checks its header against its size)."""
        with safe_open(self.directory / f"{key}.safetensors", "pt"):
            pass

    def clear(self) -> None:
        """Forget everything saved (an unusable state), keeping the folder."""
        self._ram.clear()
        self._ram_bytes = 0
        for path in self.directory.iterdir():
            if path.is_file():
                path.unlink()

    def close(self) -> None:
        self._ram.clear()
        self._ram_bytes = 0
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
