"""Settings read from files (``ONEDOOR_SECRETS_DIR``): secrets as Docker and Kubernetes mount
them, and production still refusing to start without them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import load_settings


def test_a_setting_is_read_from_its_file_in_the_secrets_directory(tmp_path, monkeypatch):
    (tmp_path / "onedoor_pseudonym_key").write_text("pseudonym-key-from-a-file\n")
    (tmp_path / "ONEDOOR_PAYMENT_ACCOUNT_KEY").write_text("account-key-from-a-file")
    (tmp_path / "onedoor_intake_database_url").write_text("postgresql://i:pw@db/intake")
    monkeypatch.setenv("ONEDOOR_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("ONEDOOR_ENV", "production")
    settings = load_settings()
    assert settings.pseudonym_key.get_secret_value() == "pseudonym-key-from-a-file"
    assert settings.payment_account_key.get_secret_value() == "account-key-from-a-file"
    assert settings.database_url("intake") == "postgresql://i:pw@db/intake"
    # The environment still wins over a file.
    monkeypatch.setenv("ONEDOOR_INTAKE_DATABASE_URL", "postgresql://i:pw@other/intake")
    assert load_settings().database_url("intake") == "postgresql://i:pw@other/intake"


def test_production_refuses_to_start_when_the_secret_files_are_missing(tmp_path, monkeypatch):
    (tmp_path / "onedoor_pseudonym_key").write_text("pseudonym-key-from-a-file")
    monkeypatch.setenv("ONEDOOR_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("ONEDOOR_ENV", "production")
    for name in ("ONEDOOR_PSEUDONYM_KEY", "ONEDOOR_PAYMENT_ACCOUNT_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="ONEDOOR_PAYMENT_ACCOUNT_KEY must be set"):
        load_settings()


def test_without_a_secrets_directory_nothing_is_read_from_files(tmp_path, monkeypatch):
    (tmp_path / "onedoor_pseudonym_key").write_text("never-read")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONEDOOR_SECRETS_DIR", raising=False)
    monkeypatch.delenv("ONEDOOR_PSEUDONYM_KEY", raising=False)
    assert load_settings().pseudonym_key.get_secret_value() != "never-read"
