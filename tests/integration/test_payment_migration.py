"""Payment's back-pay migration (0007) on PostgreSQL alters the payments table in place: the
once-only indexes that keep a household from being paid twice stay the indexes they were (a
rebuild of five unique indexes would lock a city's payments for minutes), and the migration
still ends in exactly the tables the code uses (test_migrations.py)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from shared.db import make_engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "payment" / "migrations"
ONCE = ("uq_payment_monthly_per_case", "uq_payment_monthly_per_beneficiary",
        "uq_payment_one_off_per_case", "uq_payment_batch_per_beneficiary",
        "uq_payment_reissued_once")


def migrate(url: str, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    (command.downgrade if down else command.upgrade)(config, revision)


def index_ids(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT c.relname, c.oid::bigint FROM pg_class c JOIN pg_index i "
                "ON i.indexrelid = c.oid WHERE i.indrelid = 'payments'::regclass"))
            return {name: int(oid) for name, oid in rows}
    finally:
        engine.dispose()


def test_back_pay_keeps_the_once_only_indexes_on_postgresql(postgres_url):
    migrate(postgres_url, "0006")
    before = index_ids(postgres_url)
    assert set(ONCE) <= set(before)
    migrate(postgres_url, "0007")
    after = index_ids(postgres_url)
    assert {name: after[name] for name in ONCE} == {name: before[name] for name in ONCE}
    assert {"uq_payment_back_pay_per_case", "uq_payment_back_pay_per_beneficiary"} <= set(after)
    migrate(postgres_url, "0006", down=True)  # and back, with no back pay paid yet
    assert set(index_ids(postgres_url)) == set(before)
