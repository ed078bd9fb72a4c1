"""The one error type the editorial layer raises: a message naming the file or clip and what to do."""

from __future__ import annotations

from vividvr_engine.errors import VividVRError


class EditorialError(VividVRError):
    """A timeline cannot be read, relinked, planned or conformed as asked."""
