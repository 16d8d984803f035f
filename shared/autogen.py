"""Developer tool: write a new migration for a service from the difference of its tables.

    python -m shared.autogen intake "add payments column"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config


def main() -> None:
    service, message = sys.argv[1], sys.argv[2]
    folder = Path(__file__).resolve().parent.parent / "services" / service / "migrations"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scratch.db"
        config = Config()
        config.set_main_option("script_location", str(folder))
        config.attributes["url"] = url
        command.upgrade(config, "head")
        command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":
    main()
