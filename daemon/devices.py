"""The compute devices the daemon owns, and how much memory each has.

torch is imported only when CUDA devices are asked for (or auto-detected), so a CPU-only daemon
(the preview engine, the tests) starts without paying for it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import psutil

from vividvr_daemon.config import ConfigError


@dataclass(frozen=True)
class DeviceMemory:
    total: int
    free: int


def resolve_devices(requested: tuple[str, ...]) -> list[str]:
    """The devices the daemon runs workers on, or ConfigError before anything starts.

    `auto` becomes every CUDA device (or `cpu` when there is none). `cpu` may be named more than
    once (several CPU workers, as tests use); a GPU that does not exist, or is named twice, is refused.
    """
    devices: list[str] = []
    for name in requested:
        if name == "auto":
            devices.extend(d for d in _cuda_devices() or ["cpu"] if d == "cpu" or d not in devices)
            continue
        if name != "cpu":
            _check_gpu(name)
            if name in devices:
                raise ConfigError(f"devices: {name} is named twice; give each GPU once")
        devices.append(name)
    if not devices:
        raise ConfigError("devices: name at least one (auto, cpu or cuda:N)")
    return devices


def _check_gpu(name: str) -> None:
    match = re.fullmatch(r"cuda:(\d+)", name)
    if match is None:
        raise ConfigError(f"devices: {name!r} is not a device; use auto, cpu or cuda:N (e.g. cuda:0)")
    count = len(_cuda_devices())
    if int(match[1]) >= count:
        have = f"its GPUs are cuda:0..cuda:{count - 1}" if count else "it has no usable CUDA GPU"
        raise ConfigError(f"devices: {name} does not exist on this machine; {have}")


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
