"""``onedoor partners publish`` (issue 26) against verification's real app under uvicorn, on real
SQLite and PostgreSQL: the records land and the report is printed, the bytes' progress shows as
plain lines off a terminal, the same file again (also after the answer was lost on the way)
publishes nothing twice, and a wrong credential, another department's credential or no service
at all is a one-line error and a non-zero exit — never a traceback, a credential or a line's
content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from services.verification.adapters.tables import partner_publications
from services.verification.bootstrap import _demo_credentials, create_app, demo_token
from services.verification.entrypoints import publish_cli
from services.verification.service_layer import publishing
from shared.bus.broker import free_port
from shared.pseudonym import person_ref
from shared.settings import load_settings
from tests.conftest import ROOT, migrated_engine
from tests.integration.test_partner_publications import MOTHER, SON, Service, ndjson, rec

BAD_ID = MOTHER[:-1] + ("0" if MOTHER[-1] != "0" else "1")  # a wrong check character


class Running(Service):
    url: str


@pytest.fixture
def running(database_url: str, tmp_path: Path) -> Iterator[Running]:
    """Verification on a free port, without its lifespan (no broker: the outbox keeps what
    is published), with the development credentials."""
    settings = load_settings(env="test", data_dir=tmp_path,
                             verification_database_url=database_url)
    with migrated_engine(database_url, "verification") as engine:
        app = create_app(settings)
        _demo_credentials(app.state.runtime, production=False)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "verification did not start"
            time.sleep(0.05)
        service = Running(app, engine, settings)
        service.url = f"http://127.0.0.1:{port}"
        try:
            yield service
        finally:
            server.should_exit = True
            thread.join(10)
            app.state.runtime.engine.dispose()


def ours(err: str) -> str:
    """The command's standard error, without the in-process service's JSON log lines."""
    return "".join(line for line in err.splitlines(keepends=True)
                   if not line.startswith('{"time"'))


def publications(service: Service) -> int:
    with service.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(partner_publications))
                   .scalar_one())


@pytest.fixture
def deposits(tmp_path: Path) -> Path:
    """A bank's file: 300 good lines (~30 KB, many pieces when pieces are small) and a bad
    one."""
    lines = [rec(f"d-{n}", "deposit", MOTHER if n % 2 else SON, 1_000 + n) for n in range(300)]
    path = tmp_path / "deposits.ndjson"
    path.write_bytes(ndjson(*lines[:150], rec("d-bad", "deposit", BAD_ID, 1), *lines[150:]))
    return path


def test_a_file_is_published_with_its_progress_and_its_records_land(running, deposits, capsys,
                                                                    monkeypatch):
    monkeypatch.setattr(publish_cli, "PIECE", 4096)  # several pieces, so several lines
    monkeypatch.setattr(publishing, "BATCH", 50)  # several transactions, so several counts
    status = publish_cli.publish(running.url, "bank", deposits, demo_token("bank"), every_s=0,
                                 poll_s=0.005)
    out, err = capsys.readouterr()
    err = ours(err)
    assert status == 0, err
    shown = out.splitlines()
    assert shown[:2] == ["publication 1: published",
                         "  301 lines: 300 accepted (300 upserted, 0 deleted), 1 rejected"]
    assert shown[2].startswith("  line 151: ") and "check character" in shown[2]
    assert len(shown) == 3
    size = deposits.stat().st_size
    progress = [line for line in err.splitlines() if line.startswith("upload: ")]
    assert len(progress) >= size // 4096, err  # a plain line per piece, no bar
    assert all(f" of {size:,} bytes" in line for line in progress)
    assert progress[-1].startswith(f"upload: {size:,} of {size:,} bytes (100%)")
    assert "sent" in err and "301 lines" in err and "\r" not in err
    # Then the lines the service has applied, as it commits them, ending with the report's.
    applied = [line for line in err.splitlines() if line.startswith("apply: ")]
    assert applied and all(" of 301 lines" in line for line in applied)
    counts = [int(line.split()[1].replace(",", "")) for line in applied]
    assert counts == sorted(counts) and applied[-1].startswith("apply: 301 of 301 lines (100%)")
    assert err.index("sent ") > err.index(progress[-1]) and err.index("apply: ") > err.index(
        "sent ")
    records = running.records()
    key = running.key
    assert len(records) == 300
    assert records["bank", "d-1"][:3] == ("deposit", person_ref(key, MOTHER), 1_001)
    assert records["bank", "d-299"][:3] == ("deposit", person_ref(key, MOTHER), 1_299)
    assert records["bank", "d-0"][:3] == ("deposit", person_ref(key, SON), 1_000)
    # No line's content, and no credential, in what was printed.
    for secret in (MOTHER, SON, BAD_ID, demo_token("bank")):
        assert secret not in out + err


class DropsTheAnswer(httpx.BaseTransport):
    """A real connection whose publication's answer is lost on the way back: the service has
    ingested the file, and the command sees only a broken connection (fault injection on the
    client's side; the service and its database are real)."""

    def __init__(self) -> None:
        self.real, self.dropped = httpx.HTTPTransport(), 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.real.handle_request(request)
        if request.method == "POST":
            response.read()
            response.close()
            self.dropped += 1
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def close(self) -> None:
        self.real.close()


def test_running_it_again_after_a_lost_answer_publishes_nothing_twice(running, deposits,
                                                                       capsys):
    lost = DropsTheAnswer()
    status = publish_cli.publish(running.url, "bank", deposits, demo_token("bank"),
                                 transport=lost)
    err = ours(capsys.readouterr().err)
    assert (status, lost.dropped) == (3, 1)
    assert err.splitlines()[-1] == (
        f"lost the answer of the verification service at {running.url} "
        "(ReadError: connection reset by peer); running this again is safe")
    assert "Traceback" not in err
    records, events = running.records(), running.outbox_count()
    assert len(records) == 300 and publications(running) == 1  # it did land, once

    status = publish_cli.publish(running.url, "bank", deposits, demo_token("bank"))
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("publication 1: the same file was published before; nothing "
                          "applied again")
    assert running.records() == records and running.outbox_count() == events
    assert publications(running) == 1

    # And a third time, for a script: the first report, as JSON.
    status = publish_cli.publish(running.url, "bank", deposits, demo_token("bank"),
                                 as_json=True)
    report = json.loads(capsys.readouterr().out)
    assert status == 0 and report["publication_id"] == 1
    assert (report["accepted"], report["rejected"]) == (300, 1)
    assert publications(running) == 1 and running.outbox_count() == events


def onedoor(*args: str, credential: str | None) -> subprocess.CompletedProcess[str]:
    """The installed command, as a department runs it (the credential from the environment)."""
    env = {k: v for k, v in os.environ.items() if k != publish_cli.CREDENTIAL_ENV}
    if credential is not None:
        env[publish_cli.CREDENTIAL_ENV] = credential
    return subprocess.run([str(Path(sys.executable).parent / "onedoor"), "partners", "publish",
                           *args], capture_output=True, text=True, timeout=60, env=env,
                          cwd=ROOT)


def test_a_wrong_credential_is_refused_with_the_error_and_no_traceback(running, deposits):
    done = onedoor("bank", str(deposits), "--url", running.url,
                   credential="not-a-credential-of-anyone")
    assert done.returncode == 1
    assert done.stderr.strip() == "refused (401): unknown credential"
    assert done.stdout == ""
    # Another department's credential: refused before a byte of the file is sent.
    done = onedoor("bank", str(deposits), "--url", running.url,
                   credential=demo_token("public_security"))
    assert done.returncode == 1
    assert done.stderr.strip() == "refused: the credential is not bank's"
    assert publications(running) == 0 and running.records() == {}
    for secret in ("not-a-credential-of-anyone", demo_token("public_security"), MOTHER):
        assert secret not in done.stdout + done.stderr


def test_the_command_publishes_with_a_credential_file(running, deposits, tmp_path):
    token = tmp_path / "bank-token"
    token.write_text(demo_token("bank") + "\n")
    done = onedoor("bank", str(deposits), "--url", running.url, "--credential-file", str(token),
                   credential=None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("publication 1: published")
    # Not a terminal: the closing plain line, no bar.
    assert f"upload: {deposits.stat().st_size:,} of" in done.stderr
    assert "\r" not in done.stderr and "Traceback" not in done.stderr
    assert len(running.records()) == 300


def test_no_service_is_one_line_and_a_non_zero_exit(deposits):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = onedoor("bank", str(deposits), "--url", url, credential=demo_token("bank"))
    assert done.returncode == 3
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"cannot reach the verification service at {url} (Connect")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("args", "credential", "says"), [
    (["bank", "{file}"], None, "credential: none given"),
    (["nobody", "{file}"], "x", "department: not one of"),
    (["bank", "{dir}/deposits.txt"], "x", "format: cannot tell from the name"),
    (["bank", "{dir}/missing.ndjson"], "x", "file: No such file or directory"),
])
def test_nothing_is_sent_without_what_it_needs(args, credential, says, deposits):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: any request would fail with 3
    done = onedoor(*[a.format(file=deposits, dir=deposits.parent) for a in args], "--url", url,
                   credential=credential)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(says) and "Traceback" not in done.stderr
