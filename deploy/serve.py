"""`python -m deploy.serve`: uvicorn's own command line, served by a server that rests when idle.

uvicorn's main loop wakes ten times a second to see whether it should stop, and once a second
refreshes the Date header. Measured on the 2-core bench machine (issue 24), that alone is about
0.2% of a core per process doing nothing, and `make up` runs six. Here the loop wakes once a
second for the header, and at once when a signal asks it to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from types import FrameType

from uvicorn.server import Server


class RestingServer(Server):
    """uvicorn's server, with a main loop that waits for the stop instead of polling for it."""

    _stop: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        # on_tick(0) refreshes the Date header and answers whether to stop.
        while not await self.on_tick(0):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1.0)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._stop is not None:
            # From the signal handler: through the loop's self-pipe, which wakes its wait.
            self._loop.call_soon_threadsafe(self._stop.set)


def main() -> None:
    # The module, not the package's attribute of that name (which is the command itself).
    cli = importlib.import_module("uvicorn.main")
    cli.Server = RestingServer  # type: ignore[attr-defined]  # what uvicorn.run serves with
    cli.main()


if __name__ == "__main__":
    main()
