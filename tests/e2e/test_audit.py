"""End to end through the running system: audit archives every event of a case's path, once and
exactly as published, hash-chained per topic and partition; it signs checkpoints on its interval;
GET /verify and ``onedoor audit verify`` find the archive intact; every query is logged with who
asked."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from deploy.demo import load_partner_data
from deploy.supervisor import System
from services.audit.domain.chain import GENESIS, encode_headers, link
from services.audit.domain.checkpoint import Signer, from_json, verify_checkpoint
from shared import clock
from shared.auth.tokens import bearer, load_token_keys
from shared.bus.broker import free_port
from shared.events import topics
from shared.settings import SERVICES, Settings
from tests.conftest import wait_until
from tests.e2e.conftest import HOUSEHOLDS, POLICY_PATHS, final_cases, payments, submit
from tests.integration.busutil import produce, read_topic

pytestmark = pytest.mark.e2e

TOPICS = (topics.APPLICATIONS, topics.VERIFICATIONS, topics.DECISIONS, topics.PAYMENTS)
PARTITIONS = range(3)  # Settings.topic_partitions
AUDITOR_ID = "a-e2e-1"
APPROVED, REJECTED = HOUSEHOLDS[1], HOUSEHOLDS[8]  # low-wage couple; owns a car
assert (APPROVED.expect, REJECTED.expect) == ("approved", "rejected")
CHECKPOINT_INTERVAL_S = 1


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[System]:
    """The whole system, with audit signing a checkpoint every second instead of every minute
    (a setting the supervisor hands on to the audit process)."""
    data_dir = tmp_path_factory.mktemp("onedoor-audit")
    settings = Settings(env="test", data_dir=data_dir, policy_paths=POLICY_PATHS,
                        audit_checkpoint_interval_s=CHECKPOINT_INTERVAL_S)
    running = System(settings=settings, ports={name: free_port() for name in SERVICES},
                     broker_port=free_port())
    running.start()
    try:
        running.wait_ready(timeout_s=90)
        load_partner_data(running.url("verification"), HOUSEHOLDS)
        yield running
    finally:
        running.stop()


def token(system: System, role: str = "auditor", subject: str = AUDITOR_ID,
          jurisdiction: str = "") -> dict[str, str]:
    """A signed access token, as the sign-in service issues them, with the running system's
    development key (made once in its data directory)."""
    issuer, _ = load_token_keys(system.settings)
    assert issuer is not None
    return bearer(issuer.issue(subject, role, jurisdiction, timedelta(minutes=10)))


def audit_get(system: System, path: str, headers: dict[str, str] | None = None,
              **params: Any) -> Any:
    response = httpx.get(f"{system.url('audit')}{path}", params=params,
                         headers=headers or token(system), timeout=60)
    assert response.status_code == 200, (path, params, response.text)
    return response.json()


def archived(system: System, topic: str, partition: int) -> list[dict[str, Any]]:
    """A whole chain, read through GET /records a page at a time."""
    chain: list[dict[str, Any]] = []
    while True:
        page = audit_get(system, "/records", topic=topic, partition=partition,
                         from_seq=len(chain) + 1, limit=200)
        chain += page
        if len(page) < 200:
            return chain


def archived_of(system: System, case_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """topic -> the archived records keyed by one of the cases, from every partition."""
    return {topic: [r for p in PARTITIONS for r in archived(system, topic, p)
                    if r["key"] in case_ids] for topic in TOPICS}


def on_topics(system: System, case_ids: set[str], want: dict[str, int]
              ) -> dict[str, list[Any]]:
    """topic -> the Kafka records keyed by one of the cases. Asks each topic for one more record
    than ``want`` says, so a topic holding only that many is read until the (short) timeout."""
    keys = {c.encode() for c in case_ids}

    async def read_all() -> list[list[Any]]:
        return await asyncio.gather(*(
            read_topic(system.bootstrap, topic, lambda r: r.key in keys, want=want[topic] + 1,
                       timeout_s=3) for topic in TOPICS))

    return dict(zip(TOPICS, asyncio.run(read_all()), strict=True))


def header(record: Any, name: str) -> str:
    return next(v.decode() for k, v in record.headers if k == name)


@dataclass
class Story:
    case_ids: dict[str, str]  # approved / rejected -> case id
    archive: dict[str, list[dict[str, Any]]]  # topic -> archived records of the cases
    published: dict[str, list[Any]]  # topic -> Kafka records of the cases


@pytest.fixture(scope="module")
def story(system: System) -> Story:
    """Two households through submission, verification, pre-assessment, review, notice and
    approval (one paid, one rejected), and then until audit's archive holds every event of both
    cases that is on the four topics."""
    case_ids = {"approved": submit(system, APPROVED), "rejected": submit(system, REJECTED)}
    cases = final_cases(system, list(case_ids.values()))
    assert cases[case_ids["approved"]]["status"] == "payment_scheduled", cases
    assert cases[case_ids["rejected"]]["status"] == "rejected", cases
    assert payments(system, case_ids["approved"])
    wanted = set(case_ids.values())
    found: dict[str, Any] = {}

    def archive_matches_topics() -> bool:
        archive = archived_of(system, wanted)
        published = on_topics(system, wanted, {t: len(archive[t]) for t in TOPICS})
        found.update(archive=archive, published=published)
        return all({r["event_id"] for r in archive[t]} == {header(r, "ce_id")
                                                           for r in published[t]}
                   for t in TOPICS)

    wait_until(archive_matches_topics, timeout_s=90, interval_s=0.5,
               what="the archive holding every event of the cases on the four topics")
    return Story(case_ids, found["archive"], found["published"])


def test_the_archive_holds_each_event_of_the_path_exactly_as_published(system, story):
    approved, rejected = story.case_ids["approved"], story.case_ids["rejected"]
    for topic in TOPICS:
        holders = {r["key"] for r in story.archive[topic]}
        assert approved in holders, topic  # the paid case has events on all four topics
        assert (rejected in holders) == (topic != topics.PAYMENTS), topic
    types = {t: {r["event_type"] for r in story.archive[t]} for t in TOPICS}
    assert "onedoor.application.submitted" in types[topics.APPLICATIONS]
    assert "onedoor.verification.reported" in types[topics.VERIFICATIONS]
    assert "onedoor.application.decided" in types[topics.DECISIONS]
    assert "onedoor.payment.scheduled" in types[topics.PAYMENTS]

    for topic in TOPICS:
        # Once each, although Kafka may deliver a record more than once.
        ids = Counter(r["event_id"] for r in story.archive[topic])
        assert ids and max(ids.values()) == 1, (topic, ids.most_common(3))
        published = {header(r, "ce_id"): r for r in story.published[topic]}
        for kept in story.archive[topic]:
            sent = published[kept["event_id"]]
            assert (kept["topic"], kept["partition"], kept["kafka_offset"]) == \
                (sent.topic, sent.partition, sent.offset)
            assert kept["key"].encode() == sent.key
            assert kept["event_type"] == header(sent, "ce_type")
            assert kept["data"] == json.loads(sent.value)
            assert [tuple(h) for h in kept["headers"]] == \
                [(k, v.decode()) for k, v in sent.headers]
            # The link covers exactly the bytes that were on the topic.
            assert kept["hash"] == link(kept["prev_hash"], sent.topic, sent.partition,
                                        kept["seq"], sent.key, encode_headers(sent.headers),
                                        sent.value), (topic, kept["seq"])


def test_every_chain_links_each_record_to_the_one_before(system, story):
    chains = 0
    for topic in TOPICS:
        for partition in PARTITIONS:
            chain = archived(system, topic, partition)
            if not chain:
                continue
            chains += 1
            assert [r["seq"] for r in chain] == list(range(1, len(chain) + 1)), (topic, partition)
            assert [r["prev_hash"] for r in chain] == [GENESIS] + [r["hash"] for r in chain[:-1]]
            ids = Counter(r["event_id"] for r in chain)
            assert max(ids.values()) == 1, (topic, partition, ids.most_common(3))
    assert chains >= len(TOPICS)


async def committed_offset(bootstrap: str, topic: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        tp = TopicPartition(topic, partition)
        offsets = await admin.list_consumer_group_offsets("onedoor-audit", partitions=[tp])
    finally:
        await admin.close()
    return offsets[tp].offset if tp in offsets else -1


def test_an_event_delivered_twice_is_archived_once(system, story):
    """A relay re-sends after a broker restart, and Kafka delivers at least once: a copy of an
    archived payment event (same id, key, headers and value) reaches the archiver and is
    skipped — the archive and its chain stay as they were."""
    [original] = [r for r in story.published[topics.PAYMENTS]
                  if header(r, "ce_type") == "onedoor.payment.scheduled"]
    event_id = header(original, "ce_id")
    before = {p: archived(system, topics.PAYMENTS, p) for p in PARTITIONS}

    async def resend() -> tuple[int, int]:
        await produce(system.bootstrap, [(original.topic, original.key, original.value,
                                          list(original.headers))])
        copies = await read_topic(system.bootstrap, original.topic,
                                  lambda r: header(r, "ce_id") == event_id, want=2)
        assert len(copies) == 2, copies
        [copy] = [c for c in copies if (c.partition, c.offset) !=
                  (original.partition, original.offset)]
        return int(copy.partition), int(copy.offset)

    partition, offset = asyncio.run(resend())
    # The archiver commits a batch's offsets only once the batch is in the archive.
    wait_until(lambda: asyncio.run(committed_offset(system.bootstrap, original.topic,
                                                    partition)) > offset,
               timeout_s=30, interval_s=0.3, what="the archiver past the copy")
    after = {p: archived(system, topics.PAYMENTS, p) for p in PARTITIONS}
    for p in PARTITIONS:
        assert after[p][:len(before[p])] == before[p], p  # appended to, never rewritten
    assert [r["event_id"] for p in PARTITIONS for r in after[p]].count(event_id) == 1
    assert all((p, r["kafka_offset"]) != (partition, offset)
               for p in PARTITIONS for r in after[p])


def signed_heads(system: System) -> dict[tuple[str, int], tuple[int, str]]:
    """(topic, partition) -> (seq, hash) of every chain's last record, from GET /records."""
    heads = {}
    for topic in topics.ALL_TOPICS:
        for partition in PARTITIONS:
            chain = archived(system, topic, partition)
            if chain:
                heads[(topic, partition)] = (chain[-1]["seq"], chain[-1]["hash"])
    return heads


def test_checkpoints_are_signed_on_the_interval_and_the_archive_verifies(system, story):
    heads = signed_heads(system)
    exported: dict[str, Any] = {}

    def latest_covers_the_heads() -> bool:
        exported.update(audit_get(system, "/checkpoints"))
        if not exported["checkpoints"]:
            return False
        last = exported["checkpoints"][-1]["heads"]
        vouched = {(h["topic"], h["partition"]): (h["seq"], h["hash"]) for h in last}
        return all(vouched.get(chain, (0, ""))[0] >= seq for chain, (seq, _) in heads.items())

    # Signed by the service on its own (every second here), no one asking.
    wait_until(latest_covers_the_heads, timeout_s=30, interval_s=0.5,
               what="a checkpoint over the current heads")
    pem = exported["public_key_pem"].encode()
    assert Signer.key_id_of(pem) == exported["key_id"]
    marks = [from_json(c) for c in exported["checkpoints"]]
    assert [m.number for m in marks] == list(range(1, len(marks) + 1))
    for mark in marks:
        assert verify_checkpoint(mark, {exported["key_id"]: pem}) is None, mark.number
    # What a checkpoint signed for a chain is what the archive holds at that seq.
    for head in marks[-1].heads:
        [record] = audit_get(system, "/records", topic=head.topic, partition=head.partition,
                             from_seq=head.seq, limit=1)
        assert (record["seq"], record["hash"]) == (head.seq, head.hash)

    verdict = audit_get(system, "/verify")
    assert verdict["ok"] is True and verdict["findings"] == [], verdict
    assert verdict["records"] >= sum(len(r) for r in story.archive.values()) > 0
    assert verdict["chains"] >= len(heads) > 0
    assert verdict["checkpoints"] >= len(marks) >= 1


def onedoor(system: System, *args: str, data_dir: Path | None = None, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    """``onedoor audit …`` as an operator runs it, finding the signing key in ``data_dir``
    (the running system's, by default) since ONEDOOR_AUDIT_SIGNING_KEY is not set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEDOOR_")}
    env.update(ONEDOOR_ENV="test",
               ONEDOOR_DATA_DIR=str((data_dir or system.settings.data_dir).resolve()))
    result = subprocess.run(
        [sys.executable, "-m", "deploy", "audit", *args,
         "--database-url", system.settings.database_url("audit")],
        capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
    return result


def test_the_cli_signs_verifies_and_exports_the_checkpoints(system, story, tmp_path):
    signed = onedoor(system, "checkpoint")
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert "checkpoint" in signed.stdout  # signed now, or nothing moved since the last one

    verified = onedoor(system, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK" in verified.stdout and "TAMPERED" not in verified.stdout, verified.stdout

    exported_file = tmp_path / "checkpoints.json"
    exported = onedoor(system, "export-checkpoints", str(exported_file))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    document = json.loads(exported_file.read_text())
    served = audit_get(system, "/checkpoints")
    # The CLI found the service's own key in the data dir: the same key, the same checkpoints.
    assert (document["key_id"], document["public_key_pem"]) == \
        (served["key_id"], served["public_key_pem"])
    assert document["checkpoints"] and \
        served["checkpoints"][:len(document["checkpoints"])] == document["checkpoints"]
    assert f"{len(document['checkpoints'])} checkpoints written" in exported.stdout

    # Judged against the copy kept elsewhere, by someone without the private key.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    public_key = tmp_path / "audit-public.pem"
    public_key.write_text(document["public_key_pem"])
    kept = onedoor(system, "verify", "--checkpoints", str(exported_file),
                   "--public-key", str(public_key), data_dir=elsewhere, cwd=elsewhere)
    assert kept.returncode == 0 and "OK" in kept.stdout, kept.stdout + kept.stderr

    # A copy whose heads were altered no longer carries a valid signature.
    forged = json.loads(exported_file.read_text())
    forged["checkpoints"][-1]["heads"][0]["hash"] = "f" * 64
    forged_file = tmp_path / "forged.json"
    forged_file.write_text(json.dumps(forged))
    refused = onedoor(system, "verify", "--checkpoints", str(forged_file), data_dir=elsewhere,
                      cwd=elsewhere)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "TAMPERED" in refused.stdout and "forged_checkpoint" in refused.stdout

    # Without the service's key the tool refuses, rather than make a key of its own (which
    # would sign checkpoints nobody holds, or call the archive's own forged).
    stranger = onedoor(system, "verify", data_dir=elsewhere, cwd=elsewhere)
    assert stranger.returncode == 2 and "no audit signing key" in stranger.stderr, \
        stranger.stdout + stranger.stderr
    assert not (elsewhere / "audit-signing-key.pem").exists()


def test_every_query_of_the_archive_is_logged_with_who_asked(system, story):
    other = token(system, subject="a-e2e-2")
    audit_get(system, "/records", headers=other, topic=topics.DECISIONS, partition=1,
              from_seq=2, limit=5)
    audit_get(system, "/verify", headers=other)
    audit_get(system, "/checkpoints", headers=token(system, "administrator", "adm-1"))
    log = audit_get(system, "/access-log", headers=other, limit=1000)

    assert [e["id"] for e in log] == sorted((e["id"] for e in log), reverse=True)  # newest first
    newest = log[0]
    assert (newest["who"], newest["what"], newest["query"]) == \
        ("auditor:a-e2e-2", "access-log", {"limit": 1000})  # the log logs its own reading
    assert [(e["who"], e["what"]) for e in log[1:4]] == [
        ("administrator:adm-1", "checkpoints"), ("auditor:a-e2e-2", "verify"),
        ("auditor:a-e2e-2", "records")]
    assert log[3]["query"] == {"topic": topics.DECISIONS, "partition": 1, "from_seq": 2,
                               "limit": 5}
    assert all(e["at"] for e in log)

    # The earlier queries of this module, under the auditor who sent them.
    mine = [e for e in log if e["who"] == f"auditor:{AUDITOR_ID}"]
    asked = {(e["query"]["topic"], e["query"]["partition"]) for e in mine
             if e["what"] == "records"}
    assert {(t, p) for t in TOPICS for p in PARTITIONS} <= asked
    assert {"verify", "checkpoints"} <= {e["what"] for e in mine}


def test_only_auditors_read_the_archive_and_only_within_their_jurisdiction(system, story):
    approved = story.case_ids["approved"]
    url = system.url("audit")
    assert httpx.get(f"{url}/verify", timeout=30).status_code == 401  # no token
    forged = {"Authorization": "Bearer " + "e30.e30.c2ln"}
    assert httpx.get(f"{url}/verify", headers=forged, timeout=30).status_code == 401
    for role, jurisdiction in (("window_clerk", "330282"), ("town_reviewer", "330282003"),
                               ("district_approver", "330282"), ("service", "")):
        refused = httpx.get(f"{url}/records", params={"topic": topics.DECISIONS},
                            headers=token(system, role, "s-1", jurisdiction), timeout=30)
        assert refused.status_code == 403, (role, refused.text)
    elsewhere = token(system, "auditor", "a-qd-1", "370212")  # a Qingdao district's auditor
    assert httpx.get(f"{url}/cases/{approved}", headers=elsewhere,
                     timeout=30).status_code == 403
    assert httpx.get(f"{url}/recipients/330282", headers=elsewhere,
                     timeout=30).status_code == 403
    local = token(system, "auditor", "a-cx-1", "330282")
    assert httpx.get(f"{url}/cases/{approved}", headers=local, timeout=60).status_code == 200
    # A chain and the access log mix every district: a district's auditor reads neither.
    for path, params in (("/records", {"topic": topics.DECISIONS}), ("/access-log", {})):
        assert httpx.get(f"{url}{path}", params=params, headers=local,
                         timeout=30).status_code == 403, path


def test_reports_and_views_over_http(system, story):
    approved, rejected = story.case_ids["approved"], story.case_ids["rejected"]
    view = audit_get(system, f"/cases/{approved}")
    assert view["case"]["stage"] == "approved" and view["case"]["divergences"] == 0
    assert [e for e in view["timeline"] if e["type"] == "onedoor.application.decided"]
    listed = audit_get(system, "/recipients/330282")
    assert approved in {r["case_id"] for r in listed["recipients"]}
    assert rejected not in {r["case_id"] for r in listed["recipients"]}
    as_json = audit_get(system, "/reports/payments-without-approval")
    assert as_json["count"] == 0 and as_json["events"] > 0
    response = httpx.get(f"{system.url('audit')}/reports/overdue",
                         params={"format": "csv", "region": "330282"}, headers=token(system),
                         timeout=60)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines()[0].startswith("kind,case_id,at,detail")
    log = audit_get(system, "/access-log", limit=10)
    assert {"report/overdue", "report/payments-without-approval", "recipients", "case"} <= \
        {e["what"] for e in log}


def test_an_auditor_learns_who_a_pseudonym_is_only_through_a_logged_lookup(system, story):
    submitted = next(r for r in story.archive[topics.APPLICATIONS]
                     if r["key"] == story.case_ids["approved"])
    ref = submitted["data"]["members"][0]["person_ref"]
    lookup = f"{system.url('intake')}/identity-lookups"
    reason = "payment-without-approval finding 2026-11: confirm the beneficiary"
    answer = httpx.post(lookup, json={"person_ref": ref, "reason": reason},
                        headers=token(system), timeout=30)
    assert answer.status_code == 200, answer.text
    person = answer.json()
    assert (person["name"], person["resident_id"]) == (APPROVED.members[0]["name"],
                                                       APPROVED.members[0]["resident_id"])
    assert [c["case_id"] for c in person["cases"]] == [story.case_ids["approved"]]

    clerk = token(system, "window_clerk", "c-1", "330282")
    assert httpx.post(lookup, json={"person_ref": ref, "reason": reason}, headers=clerk,
                      timeout=30).status_code == 403
    assert httpx.post(lookup, json={"person_ref": ref}, headers=token(system),
                      timeout=30).status_code == 422  # a lookup needs its reason
    qingdao = token(system, "auditor", "a-qd-1", "370212")
    assert httpx.post(lookup, json={"person_ref": ref, "reason": reason}, headers=qingdao,
                      timeout=30).status_code == 403
    logged = httpx.get(lookup, headers=token(system), timeout=30).json()
    assert [(e["subject"], e["person_ref"], e["reason"], e["found"]) for e in logged[:2]] == [
        ("a-qd-1", ref, reason, False), (AUDITOR_ID, ref, reason, True)]


# -- replay ------------------------------------------------------------------------------------

def replay_json(system: System, *args: str) -> tuple[int, dict[str, Any]]:
    result = onedoor(system, "replay", *args, "--json", *POLICY_ARGS)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


POLICY_ARGS = [arg for path in POLICY_PATHS for arg in ("--policy", str(path))]


def store_rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return conn.execute(query, params).fetchall()


def test_replay_rebuilds_each_case_and_reruns_every_decision_to_the_recorded_result(
        system, story, tmp_path):
    out = f"sqlite:///{tmp_path / 'replay.db'}"
    code, summary = replay_json(system, "--out", out)
    assessed = sum(1 for t in TOPICS for r in story.archive[t]
                   if r["event_type"] == "onedoor.case.assessed")
    assert code == 0 and summary["divergences"] == 0, summary
    assert summary["decisions_rerun"] >= assessed >= 2
    assert summary["findings"]["payment_without_approval"] == 0
    assert summary["findings"]["approval_without_report"] == 0

    approved, rejected = story.case_ids["approved"], story.case_ids["rejected"]
    rows = dict(store_rows(out, "SELECT case_id, stage || '/' || outcome FROM cases "
                                "WHERE case_id IN (?, ?)", approved, rejected))
    assert rows == {approved: "approved/approved", rejected: "rejected/rejected"}
    # The timeline holds every archived event of the case (dead letters aside), in time order.
    for case_id in (approved, rejected):
        events = {r["event_id"] for t in TOPICS for r in story.archive[t]
                  if r["key"] == case_id}
        timeline = store_rows(out, "SELECT event_id, at FROM timeline WHERE case_id = ? "
                                   "ORDER BY rowid", case_id)
        assert {e for e, _ in timeline} == events
        assert [a for _, a in timeline] == sorted(a for _, a in timeline)
    monthly, paid = store_rows(out, "SELECT monthly_amount_fen, payments FROM cases "
                                    "WHERE case_id = ?", approved)[0]
    assert monthly > 0 and paid >= 1


def test_a_changed_policy_file_is_reported_as_a_divergence(system, story, tmp_path):
    from services.approval.bootstrap import DEFAULT_POLICY

    changed = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY, changed)
    dibao = changed / "dibao.toml"
    text = dibao.read_text(encoding="utf-8")
    assert "value = 100500" in text  # Cixi's standard, where the story's households live
    dibao.write_text(text.replace("value = 100500", "value = 90000", 1), encoding="utf-8")

    result = onedoor(system, "replay", "--json", "--out", f"sqlite:///{tmp_path / 'r.db'}",
                     "--policy", str(changed), "--policy", str(POLICY_PATHS[1]))
    assert result.returncode == 1, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["divergences"] >= 1
    found = store_rows(f"sqlite:///{tmp_path / 'r.db'}",
                       "SELECT case_id, data FROM findings WHERE kind = 'divergence'")
    by_case = {case_id: json.loads(data) for case_id, data in found}
    approved = by_case[story.case_ids["approved"]]
    assert "reasons" in approved["fields"]
    assert "income_below_standard" in approved["rules"], approved


def test_auditors_reports_come_as_json_and_csv(system, story):
    for name in ("payments-without-approval", "approvals-without-report", "stale-decisions",
                 "overdue", "divergences"):
        as_json = onedoor(system, "report", name, *POLICY_ARGS)
        assert as_json.returncode == 0, as_json.stderr
        document = json.loads(as_json.stdout)
        assert document["report"] == name and document["count"] == len(document["rows"])
        as_csv = onedoor(system, "report", name, "--format", "csv", *POLICY_ARGS)
        lines = as_csv.stdout.splitlines()
        assert as_csv.returncode == 0 and len(lines) == 1 + document["count"], as_csv.stdout
    paid = json.loads(onedoor(system, "report", "payments-without-approval",
                              *POLICY_ARGS).stdout)
    assert paid["rows"] == []  # every payment of the story follows its approval


def test_a_case_and_a_towns_recipients_as_they_were_on_a_day(system, story):
    approved, rejected = story.case_ids["approved"], story.case_ids["rejected"]
    today = clock.today()
    before = onedoor(system, "case", approved, "--as-of", str(today - timedelta(days=1)))
    assert before.returncode == 1 and "no case" in before.stderr  # it did not exist yet
    now = onedoor(system, "case", approved, "--as-of", str(today))
    view = json.loads(now.stdout)
    assert view["case"]["stage"] == "approved" and view["timeline"]
    assert view["timeline"][0]["type"] == "onedoor.application.submitted"

    listed = json.loads(onedoor(system, "recipients", "330282", "--on", str(today)).stdout)
    ids = {r["case_id"] for r in listed["rows"]}
    assert approved in ids and rejected not in ids
    assert listed["monthly_total_fen"] == sum(r["monthly_amount_fen"]
                                              for r in listed["rows"])
    yesterday = json.loads(onedoor(system, "recipients", "330282", "--on",
                                   str(today - timedelta(days=1))).stdout)
    assert approved not in {r["case_id"] for r in yesterday["rows"]}


def test_replay_from_kafka_offset_zero_agrees_with_the_archive(system, story, tmp_path):
    from_archive = replay_json(system, "--out", f"sqlite:///{tmp_path / 'a.db'}")[1]
    code, from_kafka = replay_json(system, "--from-kafka", system.bootstrap,
                                   "--out", f"sqlite:///{tmp_path / 'k.db'}")
    assert code == 0 and from_kafka["divergences"] == 0, from_kafka
    assert from_kafka["decisions_rerun"] == from_archive["decisions_rerun"] >= 2
    assert from_kafka["by_type"] == from_archive["by_type"]
