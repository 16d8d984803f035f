"""Log lines as JSON, one object a line, that carry no personal data.

Every process of the system (each service, the supervisor, the partner simulator) calls
:func:`configure` once; a service's bootstrap calls :func:`set_up`, which also logs each HTTP
request by its route. A line holds ``time`` (ISO 8601, UTC), ``level``, ``service``, ``logger``,
``message``, ``case_id`` when the line is about one case (an HTTP request whose route has a
``{case_id}``, an event being handled: see :func:`about_case`; written only when it has the form
of a case id), ``trace_id`` when tracing is on and a span is current (shared/tracing/), and
the ``extra`` fields named in :data:`FIELDS`.

The rule: what a caller sent never reaches a log, only what the code says about it. So

- an exception is logged by its type and its frames (file, line, function), never its message
  or arguments: a pydantic ``ValidationError`` quotes the input, a database error the row, a
  ``KeyError`` the key. Only the types in :data:`SAFE_MESSAGES`, whose messages come from the
  infrastructure (a refused connection, a locked database), keep theirs;
- an exception passed as an argument (``log.warning("failed: %s", exc)``) is rendered the same
  way, by its type;
- a request is named by its route template (``/applications/{case_id}``), never its path or
  query: the path of the request being served is replaced by its template wherever it appears;
- ``extra`` fields reach the line only when named in :data:`FIELDS`;
- and, last, any run of 15 or more digits (a resident ID, a bank account) or a mobile number
  left in a line is masked.

Written on the standard library rather than python-json-logger: a JSON line is one
``json.dumps``, and what matters here — which parts of a record may be written at all — would be
overrides of that library's every hook.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import httpx
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics, tracing

CASE_ID: ContextVar[str | None] = ContextVar("onedoor_log_case_id", default=None)
# The request being served: its path as sent, its root path then, and its ASGI scope, where the
# router puts the route and its parameters once it has found them.
_REQUEST: ContextVar[tuple[str, str, Scope] | None] = ContextVar("onedoor_log_request",
                                                                default=None)

# ``extra`` fields that may be written: who acted (staff and client ids, roles), on what route,
# with which outcome. Anything else given as ``extra`` is dropped.
FIELDS = frozenset({
    "subject", "role", "permission", "method", "route", "path", "area", "reason", "outcome",
    "status", "duration_ms", "found", "file_id", "event_id", "event_type", "topic", "group",
    "attempts", "run_id"})

# Exceptions whose message is the infrastructure's, not the input's. SQLAlchemy's
# OperationalError: the database is down, locked or gone, its statement without its values
# (every engine is made with hide_parameters, shared/db.py).
SAFE_MESSAGES: tuple[type[BaseException], ...] = (
    OSError, KafkaError, httpx.TransportError, OperationalError)

# A case id as intake makes them (region, day, random hex): what a route's {case_id} holds when
# it is written to a line — anything else sent in its place is not.
_CASE_ID = re.compile(r"[0-9]{6,12}-[0-9]{8}-[0-9a-f]{12}", re.ASCII)
_LONG_NUMBER = re.compile(r"(?<!\d)\d{15,}[Xx]?")  # resident IDs, bank accounts (any digits)
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
# Polled every fraction of a second by the supervisor, every few seconds by an orchestrator; a
# failed readiness check logs itself (shared/health.py).
_QUIET_ROUTES = frozenset({"/health", "/health/live", "/health/ready"})
_MAX_FRAMES = 40


def mask(text: str) -> str:
    """``text`` with long digit runs and mobile numbers masked, and the path of the request
    being served replaced by its route template."""
    path, route = _request()
    if path is not None and path != route and len(path) > 1:
        text = text.replace(path, route)
    return _MOBILE.sub("[number]", _LONG_NUMBER.sub("[number]", text))


def describe(exc: BaseException) -> str:
    """An exception as a log may show it: its type, and its message only when safe."""
    name = type(exc).__name__
    return f"{name}: {mask(str(exc))}" if isinstance(exc, SAFE_MESSAGES) else name


@contextlib.contextmanager
def about_case(case_id: str | None) -> Iterator[None]:
    """Within, log lines carry ``case_id`` (a case's pseudonymous reference, nothing else)."""
    token = CASE_ID.set(case_id)
    try:
        yield
    finally:
        CASE_ID.reset(token)


class JsonLines(logging.Formatter):
    """Formats a record as one JSON object (see the module's rule)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "service": self.service, "logger": record.name,
            "message": _message(record)}
        # Read here, in the thread that logged: the handler writes synchronously.
        case_id = getattr(record, "case_id", None) or CASE_ID.get() or _path_case_id()
        if isinstance(case_id, str) and _CASE_ID.fullmatch(case_id):
            line["case_id"] = case_id
        if (trace_id := tracing.current_trace_id()) is not None:  # None unless tracing is on
            line["trace_id"] = trace_id
        for name in FIELDS & record.__dict__.keys():
            value = record.__dict__[name]
            if isinstance(value, str):
                value = mask(_routed(value))[:300]
            elif not isinstance(value, int | float | bool | None):
                value = type(value).__name__
            line[name] = value
        if record.exc_info and record.exc_info[1] is not None:
            line["exception"] = _exception(record.exc_info[1], 0)
        if record.stack_info:  # code and line numbers only
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def _arg(value: object) -> object:
    if isinstance(value, BaseException):
        return describe(value)
    if isinstance(value, str):
        return _routed(value)
    return value


def _routed(text: str) -> str:
    path, route = _request()
    return route if text == path else text


def _request() -> tuple[str | None, str]:
    """The path of the request being served, and what a log shows in its place: the template
    of its route (once routed), ``(no route)`` before or without one."""
    request = _REQUEST.get()
    if request is None:
        return None, ""
    path, root_path, scope = request
    route = getattr(scope.get("route"), "path", None)
    if route is None and scope.get("root_path", root_path) != root_path:
        route = f"{scope['root_path']}/{{path}}"  # a mounted app (the window's static files)
    return path, route or "(no route)"


def _path_case_id() -> str | None:
    request = _REQUEST.get()
    return None if request is None else request[2].get("path_params", {}).get("case_id")


def _message(record: logging.LogRecord) -> str:
    msg, args = _arg(record.msg), record.args
    try:
        if isinstance(args, Mapping):
            msg = str(msg) % {key: _arg(value) for key, value in args.items()}
        elif args:
            msg = str(msg) % tuple(_arg(value) for value in args)
    except (TypeError, ValueError, KeyError):
        # Not the message its arguments were meant for: the message alone, never the arguments.
        return mask(str(msg))
    return mask(str(msg))


def _exception(exc: BaseException, depth: int) -> dict[str, Any]:
    kind = type(exc)
    out: dict[str, Any] = {
        "type": kind.__qualname__ if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}",
        "frames": _frames(exc.__traceback__)}
    if isinstance(exc, SAFE_MESSAGES):
        out["message"] = mask(str(exc))[:500]
    if depth < 5:  # chains and groups, as a traceback shows them
        if exc.__cause__ is not None:
            out["cause"] = _exception(exc.__cause__, depth + 1)
        elif exc.__context__ is not None and not exc.__suppress_context__:
            out["context"] = _exception(exc.__context__, depth + 1)
        if isinstance(exc, BaseExceptionGroup):
            out["exceptions"] = [_exception(e, depth + 1) for e in exc.exceptions[:10]]
    return out


def _frames(tb: TracebackType | None) -> list[str]:
    # From the frames themselves, not traceback's text: that text ends with the message.
    frames = [f"{frame.f_code.co_filename}:{line} in {frame.f_code.co_name}"
              for frame, line in traceback.walk_tb(tb)]
    return frames[-_MAX_FRAMES:]


class _Handler(logging.StreamHandler[TextIO]):
    """To stderr as it is when a line is written (a test runner swaps it), and when a record
    cannot be formatted, one line saying so — never logging's default report, which prints the
    record's arguments."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass

    def handleError(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            sys.stderr.write(json.dumps({"level": "ERROR", "logger": record.name,
                                         "message": "a log line could not be written"}) + "\n")


def configure(service: str, level: str | int = "INFO") -> None:
    """This process logs JSON lines (see the module) to stderr from ``level`` up, uvicorn's
    loggers included, and so do warnings and uncaught exceptions. Called again, it only changes
    the service's name and the level."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _Handler)), None)
    if handler is None:
        handler = _Handler()
        root.addHandler(handler)
    handler.setFormatter(JsonLines(service))
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # uvicorn configured its own (plain text, its traceback with the message) before it called
    # the app's factory: through the root's handler instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # httpx writes each request's whole URL at INFO (the window's calls, with their queries).
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)
    uncaught = logging.getLogger("onedoor.uncaught")
    sys.excepthook = lambda kind, exc, tb: uncaught.critical("uncaught exception",
                                                             exc_info=(kind, exc, tb))
    threading.excepthook = lambda hook: uncaught.critical(
        "uncaught exception in a thread", exc_info=hook.exc_value)


def to_file(logger: logging.Logger, path: Path, service: str) -> logging.Handler:
    """Also write ``logger``'s lines to ``path`` as JSON lines; returns the handler, for
    ``logger.removeHandler`` when done."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonLines(service))
    logger.addHandler(handler)
    return handler


class RequestLog:
    """ASGI middleware: a line per request (method, route template, status, duration), and
    while it is served, once routed, its ``case_id`` (the route's ``{case_id}``) on every line
    and its path replaced by its route's template. The same figures go to the request-latency
    histogram (shared/metrics.py), the probes' included."""

    def __init__(self, app: ASGIApp, service: str = "") -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless a response starts: an exception escaped

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        request = _REQUEST.set((scope.get("path", ""), scope.get("root_path", ""), scope))
        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = _request()[1]
            method = str(scope.get("method", ""))[:16]
            metrics.observe_request(self.service, method, route, status, seconds)
            if route not in _QUIET_ROUTES:
                _http_log.info("%s %s %d", method, route, status, extra={
                    "method": method, "route": route, "status": status,
                    "duration_ms": round(seconds * 1000, 1)})
            _REQUEST.reset(request)


_http_log = logging.getLogger("onedoor.http")


def set_up(app: FastAPI, service: str, level: str | int = "INFO") -> None:
    """A service's logging: :func:`configure` for its process and :class:`RequestLog` on its
    app — and, since every bootstrap calls this for its app, the app's traces (server spans,
    when the ``OTEL_*`` variables turn tracing on: shared/tracing/)."""
    configure(service, level)
    app.add_middleware(RequestLog, service=service)
    tracing.set_up(service)
    tracing.instrument_app(app, service)
