"""``onedoor audit …``: verify the archive, export its checkpoints, sign one now.

``verify`` reads the archive from audit's database and judges it against checkpoints — by
default the ones in that database, or (better) a copy exported earlier and kept elsewhere
(``--checkpoints FILE``), with the public key held elsewhere too (``--public-key FILE``): an
attacker who rewrote the database could have rewritten its checkpoints as well, but cannot sign
new ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from services.audit.adapters import store
from services.audit.adapters.keys import NoSigningKey, load_signer
from services.audit.domain.checkpoint import Signer, from_json, to_json
from services.audit.domain.verify import verify
from services.audit.entrypoints import replay_cli
from shared.db import reading
from shared.progress import Progress, counted
from shared.settings import load_settings


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the tamper-evident event archive")
    commands = audit.add_subparsers(required=True)
    p_verify = commands.add_parser("verify", help="check every chain and checkpoint")
    p_verify.add_argument("--database-url", help="audit's database (default: the settings')")
    p_verify.add_argument("--checkpoints", type=Path,
                          help="an exported copy of the checkpoints to judge against")
    p_verify.add_argument("--public-key", type=Path, help="the signing key's public half (PEM)")
    p_verify.set_defaults(func=verify_command)
    p_export = commands.add_parser("export-checkpoints",
                                   help="write the checkpoints and public key to a file")
    p_export.add_argument("file", type=Path)
    p_export.add_argument("--database-url")
    p_export.set_defaults(func=export_command)
    p_sign = commands.add_parser("checkpoint", help="sign a checkpoint of the heads now")
    p_sign.add_argument("--database-url")
    p_sign.set_defaults(func=checkpoint_command)
    replay_cli.add_commands(commands)


def _signer() -> Signer | None:
    try:
        return load_signer(load_settings(), create=False)
    except NoSigningKey as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return None


def verify_command(args: argparse.Namespace) -> int:
    engine = replay_cli.archive_engine(args.database_url)
    if args.checkpoints:
        exported = json.loads(args.checkpoints.read_text())
        marks = [from_json(c) for c in exported["checkpoints"]]
        keys = {exported["key_id"]: exported["public_key_pem"].encode()}
    else:
        with engine.connect() as conn:
            marks = store.all_checkpoints(conn)
        signer = _signer()
        if signer is None:
            return 2
        keys = {signer.key_id: signer.public_key_pem()}
    if args.public_key:
        pem = args.public_key.read_bytes()
        keys = {Signer.key_id_of(pem): pem}
    with reading(engine) as conn:
        total = store.count(conn)
    started = time.perf_counter()
    with Progress("verify", total, "records") as shown:
        result = verify(counted(store.records(engine), shown), marks, keys)
    seconds = time.perf_counter() - started
    engine.dispose()
    print(f"{result.records:,} records in {result.chains} chains, {result.checkpoints} "
          f"checkpoints, verified in {seconds:.1f} s")
    for f in result.findings:
        where = f"{f.topic}/{f.partition} seq {f.seq}" if f.topic is not None else "-"
        print(f"  {f.kind:<18} {where}: {f.detail}")
    print("OK: the archive is intact" if result.ok else
          f"TAMPERED: {len(result.findings)} finding(s)")
    return 0 if result.ok else 1


def export_command(args: argparse.Namespace) -> int:
    engine = replay_cli.archive_engine(args.database_url)
    with engine.connect() as conn:
        marks = store.all_checkpoints(conn)
    engine.dispose()
    signer = _signer()
    if signer is None:
        return 2
    foreign = {c.key_id for c in marks} - {signer.key_id}
    if foreign:
        print(f"refused: checkpoints signed by key(s) {sorted(foreign)}, not by this key "
              f"({signer.key_id}); is ONEDOOR_DATA_DIR the audit service's?", file=sys.stderr)
        return 2
    args.file.write_text(json.dumps({
        "key_id": signer.key_id, "public_key_pem": signer.public_key_pem().decode(),
        "checkpoints": [to_json(c) for c in marks]}, indent=1))
    print(f"{len(marks)} checkpoints written to {args.file}")
    return 0


def checkpoint_command(args: argparse.Namespace) -> int:
    from services.audit.service_layer.archiving import sign, unit_of_work

    signer = _signer()
    if signer is None:
        return 2
    engine = replay_cli.archive_engine(args.database_url)
    with engine.connect() as conn:
        last = store.last_checkpoint(conn)
    if last is not None and last.key_id != signer.key_id:
        print(f"refused: the last checkpoint was signed by key {last.key_id}, not by this key "
              f"({signer.key_id}); is ONEDOOR_DATA_DIR the audit service's?", file=sys.stderr)
        return 2
    signed = sign(lambda: unit_of_work(engine), signer)
    engine.dispose()
    print("nothing moved since the last checkpoint" if signed is None else
          f"checkpoint {signed.number} signed over {len(signed.heads)} chains")
    return 0
