"""One exception tree for greenci.

Every message names the bad value, where it came from (file, row, column, field) and the fix, so
that the CLI can print it as is and the service can return it as a 4xx body.
"""

from __future__ import annotations


class GreenciError(Exception):
    """Base of every error greenci raises on purpose.

    ``field`` names the request field the message is about (e.g. ``energy_kwh``; several as a tuple when
    the fix involves more than one), so that a shell can show it in its own terms (the CLI as
    ``--energy-kwh``, the service as a JSON pointer).
    """

    exit_code: int = 1

    def __init__(self, *args: object, field: str | tuple[str, ...] | None = None) -> None:
        super().__init__(*args)
        self.field = field

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the message is about, as a tuple (empty when none)."""
        if self.field is None:
            return ()
        return (self.field,) if isinstance(self.field, str) else tuple(self.field)


class InputError(GreenciError, ValueError):
    """A value given to greenci (argument, field, option) is out of range or malformed."""

    exit_code = 2


class DataFormatError(InputError):
    """A file or payload could not be read as the format it claims to be."""

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None,
                 column: str | None = None, field: str | None = None) -> None:
        where = []
        if path is not None:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = " ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message, field=field)
        self.path = path
        self.row = row
        self.column = column


class SignalMismatchError(InputError):
    """Average and marginal intensity signals were about to be mixed."""


class GapError(GreenciError):
    """A computation needs intensity values where the series has gaps."""

    exit_code = 3


class ConfigError(GreenciError):
    """Configuration (environment variables, config file) is missing or invalid."""

    exit_code = 2


class SourceError(GreenciError):
    """A remote data source failed: network, authentication, quota or an unexpected response."""

    exit_code = 4


class AuthenticationError(SourceError):
    """A remote source refused the credentials."""
