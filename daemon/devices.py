"""The compute devices the daemon owns, and how much memory each has.

torch is imported only when CUDA devices are asked for (or auto-detected), so a CPU-only daemon
(the preview engine, the tests) starts without paying for it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class DeviceMemory:
    total: int
    free: int


def resolve_devices(requested: tuple[str, ...]) -> list[str]:
    """`auto` becomes every CUDA device (or `cpu` when there is none); names pass through."""
    devices: list[str] = []
    for name in requested:
        if name == "auto":
            devices.extend(_cuda_devices() or ["cpu"])
        elif name not in devices:
            devices.append(name)
    return devices


def _cuda_devices() -> list[str]:
    try:
        import torch
    except ImportError:
        return []
    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def device_memory(device: str) -> DeviceMemory:
    """Host memory for `cpu`; the card's memory for `cuda:N` (total, and free right now)."""
    if device.startswith("cuda"):
        import torch

        free, total = torch.cuda.mem_get_info(torch.device(device))
        return DeviceMemory(total, free)
    vm = psutil.virtual_memory()
    return DeviceMemory(vm.total, vm.available)


def describe(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({psutil.cpu_count()} threads)"


def release_cached_memory() -> None:
    """Give cached CUDA blocks back after unloading a model (only if torch is already loaded)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
