"""Errors the engine raises, each with a message written for the person running it."""

from __future__ import annotations


class VividVRError(Exception):
    """Base class: everything the engine raises on purpose."""


class SettingsError(VividVRError, ValueError):
    """A restoration setting is out of range."""


class CheckpointError(VividVRError):
    """A checkpoint file is missing or is not what the loader expects."""


class MediaError(VividVRError):
    """A media file cannot be read or written as asked."""


class Cancelled(VividVRError):
    """The caller cancelled the work; whatever was finished is kept."""
