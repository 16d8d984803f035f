"""A PostgreSQL server the project owns: a throwaway cluster on a free loopback port.

The tests use it when nothing answers at ``ONEDOOR_TEST_POSTGRES_URL`` (CI machines no longer
start PostgreSQL for us), and ``onedoor up --database postgresql`` when no URL is given. It
installs Debian's ``postgresql`` when the binaries are absent and we are root with apt. initdb
refuses to run as root, so as root the cluster lives in a fresh directory under the system's
temporary directory owned by the ``postgres`` user (a clone under ``mktemp -d`` is not
traversable by that user) and the server runs as that user.

Durability is traded for speed (fsync off): this server holds test and demo data only, and
is thrown away when it stops.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from shared.bus.broker import free_port


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be installed or started here; the message says why."""


def _bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: Debian keeps them off PATH, one directory per version."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return versions[-1].parent if versions else None


def ensure_installed() -> Path:
    """The directory of PostgreSQL's server binaries, installing Debian's package if needed."""
    found = _bin_dir()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailable(
            "PostgreSQL's server (initdb, pg_ctl) is not installed, and installing Debian's "
            "'postgresql' needs root and apt-get; install it, or point "
            "ONEDOOR_TEST_POSTGRES_URL at a server")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "postgresql"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise PostgresUnavailable(f"apt-get install postgresql failed: {done.stderr[-500:]}")
    found = _bin_dir()
    if found is None:
        raise PostgresUnavailable("postgresql was installed but initdb is not to be found")
    return found


class LocalPostgres:
    """One throwaway PostgreSQL cluster: ``start()``, use ``url``, ``stop()`` (removes it)."""

    def __init__(self, port: int | None = None, max_connections: int = 400) -> None:
        self.port = port or free_port()
        self._max_connections = max_connections
        self._root: Path | None = None
        self._as_postgres = os.geteuid() == 0
        self._bin: Path | None = None

    @property
    def url(self) -> str:
        """The superuser's URL on the maintenance database (trust authentication, loopback)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        command = [str(self._bin / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self._bin = ensure_installed()
        self._root = Path(tempfile.mkdtemp(prefix="onedoor-pg-"))
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self._root, user.pw_uid, user.pw_gid)
        data = self._root / "data"
        steps = [
            ("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"),
            ("pg_ctl", "-D", str(data), "-l", str(self._root / "server.log"), "-w", "-t", "60",
             "-o", " ".join([
                 f"-p {self.port}", "-c listen_addresses=127.0.0.1",
                 f"-c unix_socket_directories={self._root}",
                 f"-c max_connections={self._max_connections}",
                 "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
             ]), "start"),
        ]
        for step in steps:
            done = self._run(*step)
            if done.returncode != 0:
                log_tail = ""
                log_file = self._root / "server.log"
                if log_file.exists():
                    log_tail = log_file.read_text(errors="replace")[-1000:]
                self.stop()
                raise PostgresUnavailable(
                    f"{step[0]} failed ({done.returncode}): {done.stderr[-800:]} {log_tail}")

    def create_database(self, name: str) -> str:
        """A new database on this server (dropped first if it exists); answers its URL."""
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        if self._root is None:
            return
        data = self._root / "data"
        if (data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self._root, ignore_errors=True)
        self._root = None
