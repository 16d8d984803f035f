"""OneDoor's version, from one place: the package's metadata, which pyproject.toml sets (every
service's OpenAPI document states it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("onedoor")
except PackageNotFoundError:  # run from a checkout that was never installed (make installs it)
    VERSION = "0+unknown"
