"""The audit archive on real databases: each event archived once in arrival order per topic and
partition, chained; checkpoints signed; tampering in the database detected and located — also by
`onedoor audit verify`, the auditor's command."""

import json
import subprocess
import sys

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from services.audit.adapters import store
from services.audit.adapters.tables import archive as archive_table
from services.audit.domain.checkpoint import Signer, to_json
from services.audit.domain.verify import verify
from services.audit.service_layer.archiving import Incoming, archive, checkpoint
from tests.conftest import ROOT, migrated_engine

TOPICS = ("onedoor.applications", "onedoor.decisions")


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "audit") as engine:
        yield engine


def incoming(n: int, topic: str = TOPICS[0], partition: int = 0,
             event_id: str | None = None) -> Incoming:
    value = json.dumps({"case_id": f"330282-20261122-{n:012d}", "n": n}).encode()
    headers = [("ce_id", (event_id or f"{topic}-{partition}-{n}").encode()),
               ("ce_type", b"onedoor.test.happened"), ("ce_specversion", b"1.0")]
    return Incoming(topic, partition, n, f"case-{n}".encode(), headers, value)


def archived(engine, batches) -> int:  # type: ignore[no-untyped-def]
    added = 0
    for batch in batches:
        with engine.begin() as conn:
            added += archive(conn, batch)
    return added


def judge(engine, signer: Signer):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        marks = store.all_checkpoints(conn)
    return verify(store.records(engine, batch=7), marks, {signer.key_id: signer.public_key_pem()})


def tamper(engine, sql: str, **params) -> None:  # type: ignore[no-untyped-def]
    """As a privileged attacker would: the append-only triggers dropped first."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER IF EXISTS archive_append_only ON archive"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS archive_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS archive_no_delete"))
        conn.execute(text(sql), params)


def fill(engine, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    """Two topics, two partitions, 30 events each, a checkpoint after the first 20 of each and
    one at the end."""
    events = [incoming(n, topic, p) for topic in TOPICS for p in (0, 1) for n in range(1, 31)]
    first = [e for e in events if e.offset <= 20]
    rest = [e for e in events if e.offset > 20]
    archived(engine, [first[:37], first[37:]])
    with engine.begin() as conn:
        checkpoint(conn, signer)
    archived(engine, [rest])
    with engine.begin() as conn:
        checkpoint(conn, signer)


def test_each_event_is_archived_once_chained_in_arrival_order(engine):
    batch = [incoming(n) for n in range(1, 11)]
    # At-least-once: the same events again (a relay re-sending after a broker restart, with
    # new offsets), and a duplicate inside one batch.
    again = [incoming(n) for n in range(5, 13)] + [incoming(12)]
    assert archived(engine, [batch, again]) == 12
    with engine.connect() as conn:
        rows = conn.execute(select(archive_table.c.seq, archive_table.c.event_id)
                            .order_by(archive_table.c.seq)).all()
    assert [r.seq for r in rows] == list(range(1, 13))
    assert [r.event_id for r in rows] == [f"{TOPICS[0]}-0-{n}" for n in range(1, 13)]
    signer = Signer.generate()
    with engine.begin() as conn:
        first = checkpoint(conn, signer)
        assert checkpoint(conn, signer) is None  # nothing moved: no new checkpoint
    assert first is not None and [(h.topic, h.seq) for h in first.heads] == [(TOPICS[0], 12)]
    result = judge(engine, signer)
    assert (result.ok, result.records, result.chains, result.checkpoints) == (True, 12, 1, 1)


def test_the_archive_refuses_updates_and_deletes(engine):
    archived(engine, [[incoming(1)]])
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE archive SET value = :v"), {"v": b"x"})
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM archive"))


def test_a_modified_record_is_located(engine):
    signer = Signer.generate()
    fill(engine, signer)
    assert judge(engine, signer).ok
    tamper(engine, "UPDATE archive SET value = :v WHERE topic = :t AND partition = 1 AND seq = 7",
           v=b'{"case_id": "forged", "n": 7}', t=TOPICS[1])
    [finding] = judge(engine, signer).findings
    assert (finding.kind, finding.topic, finding.partition, finding.seq) == (
        "modified", TOPICS[1], 1, 7)


@pytest.mark.parametrize(("column", "value"), [("event_time", 0),
                                               ("event_type", "onedoor.application.forged"),
                                               ("subject", "330282-20261122-000000000099")])
def test_a_changed_column_the_replay_reads_is_located(engine, column, value):
    """event_time orders the replay, event_type steers it and subject names the case (and the
    share of a parallel replay); all are read from the hashed headers at archiving, and verify
    reads them from the headers again."""
    signer = Signer.generate()
    fill(engine, signer)
    tamper(engine, f"UPDATE archive SET {column} = :v "
                   "WHERE topic = :t AND partition = 0 AND seq = 3", v=value, t=TOPICS[0])
    [finding] = judge(engine, signer).findings
    assert (finding.kind, finding.topic, finding.partition, finding.seq) == (
        "modified", TOPICS[0], 0, 3)
    assert "event_type, event_time or subject" in finding.detail


def test_a_deleted_record_is_located(engine):
    signer = Signer.generate()
    fill(engine, signer)
    tamper(engine, "DELETE FROM archive WHERE topic = :t AND partition = 0 AND seq = 12",
           t=TOPICS[0])
    [finding] = judge(engine, signer).findings
    assert (finding.kind, finding.topic, finding.partition, finding.seq) == (
        "deleted", TOPICS[0], 0, 12)


def test_a_truncated_tail_is_found_by_the_checkpoints(engine):
    signer = Signer.generate()
    fill(engine, signer)
    tamper(engine, "DELETE FROM archive WHERE topic = :t AND partition = 1 AND seq > 25",
           t=TOPICS[0])
    [finding] = judge(engine, signer).findings
    assert (finding.kind, finding.topic, finding.partition) == ("truncated", TOPICS[0], 1)


def test_the_auditors_command_verifies_against_an_exported_copy_of_the_checkpoints(
        engine, database_url, tmp_path):
    signer = Signer.generate()
    fill(engine, signer)
    with engine.connect() as conn:
        marks = store.all_checkpoints(conn)
    copy = tmp_path / "checkpoints.json"  # held elsewhere, e.g. by the audit office
    copy.write_text(json.dumps({"key_id": signer.key_id,
                                "public_key_pem": signer.public_key_pem().decode(),
                                "checkpoints": [to_json(c) for c in marks]}))

    def audit_verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deploy.cli", "audit", "verify", "--database-url",
             database_url, "--checkpoints", str(copy)],
            cwd=ROOT, capture_output=True, text=True, timeout=120)

    clean = audit_verify()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "120 records in 4 chains, 2 checkpoints" in clean.stdout and "OK" in clean.stdout
    # The attacker rewrites a record and the database's own checkpoints to match; the copy
    # held elsewhere still tells.
    tamper(engine, "UPDATE archive SET value = :v WHERE topic = :t AND partition = 0 AND seq = 3",
           v=b"{}", t=TOPICS[1])
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM checkpoints"))
    caught = audit_verify()
    assert caught.returncode == 1
    assert "modified" in caught.stdout and f"{TOPICS[1]}/0 seq 3" in caught.stdout
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(archive_table)).scalar_one() == 120
