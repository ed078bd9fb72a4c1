"""Vivid-VR video restoration: the engine library (no networking)."""

__version__ = "0.1.0"
