"""The exceptions iodiag raises on purpose, each with the exit code the CLI maps it to."""

from __future__ import annotations


class IodiagError(Exception):
    """Base class: a problem the user can act on, reported in one line."""

    exit_code = 2


class InputError(IodiagError):
    """An input that cannot be opened, read or recognised."""


class UsageError(IodiagError):
    """Options that do not fit together."""


class InstallationError(IodiagError):
    """A broken installation: a data folder that ships beside the code is missing."""
