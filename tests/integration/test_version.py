"""The version comes from one place, ``pyproject.toml`` (issue 23; payment once said 0.2.0 while
the package said 0.1.0). Every service's API, the event contract and the traces state the
installed package's version (``shared/version.py`` reads it from the package metadata), and the
deployment descriptions and their instructions, which cannot read it, name the image it builds.

Here rather than in ``tests/unit``: each service's app is built (no server, broker or database
is started), which sets up the process's logging and writes development keys.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

from shared import asyncapi
from shared.settings import SERVICES, Settings
from shared.tracing.pipeline import make_provider
from shared.version import VERSION

ROOT = Path(__file__).resolve().parents[2]
# The image tag wherever it is written down: in the descriptions and in the steps that build
# and roll out the image (a tag that differs there runs an image nobody built).
TAGGED = [ROOT / "deploy" / "compose.yaml", *sorted((ROOT / "deploy" / "k8s").glob("*.yaml")),
          ROOT / "docs" / "OPERATIONS.md", ROOT / "README.md"]


def pyproject_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_the_installed_version_is_pyprojects():
    assert pyproject_version() == VERSION, (
        "the installed package's metadata is not pyproject.toml's: install again (make install)")


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_states_pyprojects_version(service, tmp_path):
    settings = Settings(env="test", data_dir=tmp_path,
                        kafka_bootstrap="127.0.0.1:9")  # never contacted: the app is not started
    app = importlib.import_module(f"services.{service}.bootstrap").create_app(settings)
    assert app.version == pyproject_version()
    assert app.openapi()["info"]["version"] == pyproject_version()


def test_the_event_contract_and_the_traces_state_it():
    assert asyncapi.document()["info"]["version"] == pyproject_version()
    resource = make_provider("payment").resource
    assert resource.attributes["service.version"] == pyproject_version()


def test_the_deployment_descriptions_run_this_version():
    version = pyproject_version()
    tags = {path.relative_to(ROOT).as_posix(): re.findall(r"\bonedoor:(\d[\w.+-]*)",
                                                          path.read_text())
            for path in TAGGED}
    # Every service's Deployment names the image, and so does compose's service template.
    for service in SERVICES:
        assert tags[f"deploy/k8s/{service}.yaml"], service
    assert tags["deploy/compose.yaml"] and tags["deploy/k8s/migrate-job.yaml"]
    assert {(where, tag) for where, found in tags.items() for tag in found
            if tag != version} == set()

    kustomization = (ROOT / "deploy" / "k8s" / "kustomization.yaml").read_text()
    assert re.findall(r"newTag: *(\S+)", kustomization) == [version]
    # A Job's template cannot change, so the migration Job of each release has its own name.
    job = version.replace(".", "-")
    for path in (ROOT / "deploy" / "k8s" / "migrate-job.yaml", ROOT / "docs" / "OPERATIONS.md"):
        names = re.findall(r"onedoor-migrate-([\w-]+)", path.read_text())
        assert names and set(names) == {job}, (path.name, names)
