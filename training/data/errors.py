"""Named errors of the data layer, so the CLI and the trainer can report a bad data folder clearly."""

from __future__ import annotations

from jbdiff.errors import JbdiffError


class DataError(JbdiffError):
    """A data folder, package or recipe step cannot give training audio; the message says why."""
