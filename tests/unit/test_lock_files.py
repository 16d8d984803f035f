"""The lock files (issue 23, reproducible installs): every requirement of pyproject.toml is
pinned, at a version inside its range, and nothing is pinned twice or loosely — so `make
install` and the image install what was tested, and a lock left behind by a change of
pyproject.toml fails here rather than in someone's install."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


def pins(name: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / name).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        matched = PIN.match(line)
        assert matched, f"{name}: not a pin: {line!r}"
        key = canonicalize_name(matched[1])
        assert key not in found, f"{name}: {matched[1]} pinned twice"
        found[key] = matched[2]
    return found


def requirements(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    if extra:
        listed += project["optional-dependencies"][extra]
    return [Requirement(r) for r in listed]


@pytest.mark.parametrize(("lock", "extra"), [("requirements.lock", None),
                                             ("requirements-dev.lock", "dev")])
def test_every_requirement_is_pinned_inside_its_range(lock: str, extra: str | None) -> None:
    pinned = pins(lock)
    for requirement in requirements(extra):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        version = pinned.get(canonicalize_name(requirement.name))
        assert version is not None, f"{lock}: {requirement.name} is not pinned (make lock)"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock}: {requirement.name}=={version} is outside {requirement.specifier} "
            "(make lock)")


def test_the_image_takes_the_services_lock_and_the_developers_take_all_of_it() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert runtime.items() <= dev.items()  # the same versions where both have a package
    assert "onedoor" not in dev
    assert "requirements.lock" in (ROOT / "Dockerfile").read_text()
    assert "-r requirements-dev.lock" in (ROOT / "Makefile").read_text()
