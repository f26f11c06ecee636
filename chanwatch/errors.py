"""The app's own error; the others are defined by the package that raises them."""

from __future__ import annotations

from storage.errors import ChanwatchError


class ConfigError(ChanwatchError):
    """The configuration file or environment is unusable."""
