"""Log lines (shared/logs.py): JSON, one object a line, and nothing a caller sent — no resident
ID, no name — whether it came in an exception's message, an argument, an extra field or a URL."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert
from sqlalchemy.exc import IntegrityError

from shared import logs

RESIDENT_ID = "330282199001011234"
NAME = "王秀英"
PHONE = "13912345678"
SECRETS = (RESIDENT_ID, NAME, PHONE)


class Output:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]  # each one valid JSON

    def clean(self) -> list[dict[str, Any]]:
        for secret in SECRETS:
            assert secret not in self.text
        return self.lines()


@pytest.fixture
def output() -> Iterator[Output]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonLines("intake"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield Output(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


log = logging.getLogger("onedoor.test")


def test_a_line_is_one_json_object_with_time_level_service_and_logger(output):
    log.info("two\nlines, one %s", "record")
    [line] = output.lines()
    assert line["level"] == "INFO" and line["service"] == "intake"
    assert line["logger"] == "onedoor.test" and line["message"] == "two\nlines, one record"
    assert line["time"].endswith("+00:00") and "T" in line["time"]
    assert "case_id" not in line and "exception" not in line


def test_an_exception_is_logged_by_type_and_frames_never_by_its_message(output):
    def handle() -> None:
        raise ValueError(f"no such person {NAME} ({RESIDENT_ID}, {PHONE})")

    try:
        handle()
    except ValueError:
        log.exception("handling failed")
    [line] = output.clean()
    assert line["message"] == "handling failed" and line["level"] == "ERROR"
    assert line["exception"]["type"] == "ValueError"
    assert any(frame.endswith(" in handle") and "test_logs.py:" in frame
               for frame in line["exception"]["frames"])


class Member(BaseModel):
    name: str = Field(max_length=2)
    resident_id: int


def test_a_validation_error_quoting_its_input_is_logged_without_it(output):
    with pytest.raises(ValidationError) as caught:
        Member(name=NAME, resident_id=RESIDENT_ID + "x")  # type: ignore[arg-type]
    assert RESIDENT_ID in str(caught.value) and NAME in str(caught.value)  # as it would be
    log.error("Exception in ASGI application\n", exc_info=caught.value)
    [line] = output.clean()
    assert line["exception"]["type"] == "pydantic_core._pydantic_core.ValidationError"


def test_a_database_error_with_its_row_is_logged_without_it_cause_and_all(output):
    engine = create_engine("sqlite://")  # not make_engine's: the parameters are NOT hidden
    people = Table("people", MetaData(), Column("resident_id", String, primary_key=True),
                   Column("name", String))
    people.metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(insert(people), [{"resident_id": RESIDENT_ID, "name": NAME}] * 2)
    except IntegrityError as exc:
        assert RESIDENT_ID in str(exc)  # as it would be
        try:
            raise RuntimeError(f"storing {NAME}") from exc
        except RuntimeError:
            log.warning("could not store %s", exc, exc_info=True)
    [line] = output.clean()
    assert line["message"] == "could not store IntegrityError"
    assert line["exception"]["type"] == "RuntimeError"
    assert line["exception"]["cause"]["type"] == "sqlalchemy.exc.IntegrityError"
    assert "message" not in line["exception"]["cause"]


def test_infrastructure_failures_keep_their_message_with_numbers_masked(output):
    log.warning("broker not reachable yet (%s)", ConnectionRefusedError(111, "Connection refused"))
    log.warning("the account %s, the phone %s", "6222020200112233445", PHONE)
    log.warning("full-width %s", "３３０２８２１９５８０３１５００２４")
    first, second, third = output.clean()
    assert first["message"] == "broker not reachable yet (ConnectionRefusedError: [Errno 111] " \
                               "Connection refused)"
    assert second["message"] == "the account [number], the phone [number]"
    assert third["message"] == "full-width [number]"


def test_only_the_known_extra_fields_are_written(output):
    log.warning("refused", extra={"subject": "c-0142", "role": "town_reviewer", "found": 3,
                                  "resident_id": RESIDENT_ID, "holder_name": NAME,
                                  "reason": f"bad id {RESIDENT_ID}", "area": object()})
    [line] = output.clean()
    assert line["subject"] == "c-0142" and line["role"] == "town_reviewer" and line["found"] == 3
    assert line["reason"] == "bad id [number]" and line["area"] == "object"
    assert "resident_id" not in line and "holder_name" not in line


def test_a_message_that_does_not_fit_its_arguments_is_written_without_them():
    record = logging.LogRecord("onedoor.test", logging.WARNING, __file__, 1, "one %s two %s",
                               (RESIDENT_ID,), None)
    line = logs.JsonLines("intake").format(record)
    assert json.loads(line)["message"] == "one %s two %s" and RESIDENT_ID not in line


def test_lines_about_a_case_carry_its_id_and_only_a_case_id(output):
    with logs.about_case("330282-20261207-514c83b546b8"):
        log.info("handled")
        worker = threading.Thread(target=lambda: log.info("elsewhere"))
        worker.start()
        worker.join()
    log.info("after")
    with logs.about_case(NAME):
        log.info("not a case id")
    inside, elsewhere, after, not_a_case = output.lines()
    assert inside["case_id"] == "330282-20261207-514c83b546b8"
    assert "case_id" not in elsewhere and "case_id" not in after  # threads start afresh
    assert "case_id" not in not_a_case


def app_with_routes() -> FastAPI:
    app = FastAPI()
    access = logging.getLogger("onedoor.access")

    def refuse(request: Request) -> None:
        access.warning("refused %s %r", request.method, request.url.path,
                       extra={"path": request.url.path})

    @app.get("/applications/{case_id}", dependencies=[Depends(refuse)])
    def case(case_id: str) -> dict[str, str]:
        log.info("looked up")
        return {"case_id": case_id}

    @app.get("/fails/{case_id}")
    def fails(case_id: str) -> None:
        raise KeyError(case_id)

    @app.get("/health")
    def health() -> str:
        return "ok"

    app.add_middleware(logs.RequestLog)  # as logs.set_up does, without configuring this process
    return app


CASE = "330282-20261207-514c83b546b8"


@pytest.fixture
def quiet_httpx() -> Iterator[None]:
    """The test client's own line per request, with the URL, off (as configure() does)."""
    httpx_log = logging.getLogger("httpx")
    level = httpx_log.level
    httpx_log.setLevel(logging.WARNING)
    yield
    httpx_log.setLevel(level)


def test_requests_are_logged_by_route_with_their_case_never_their_path_or_query(
        output, quiet_httpx):
    client = TestClient(app_with_routes(), raise_server_exceptions=False)
    assert client.get(f"/applications/{CASE}", params={"q": PHONE}).status_code == 200
    assert client.get(f"/applications/{NAME}").status_code == 200
    assert client.get(f"/fails/{RESIDENT_ID}").status_code == 500
    assert client.get(f"/nowhere/{RESIDENT_ID}").status_code == 404
    assert client.get("/health").status_code == 200  # polled all the time: not logged
    lines = output.clean()
    assert [line["message"] for line in lines] == [
        "refused GET '/applications/{case_id}'", "looked up", "GET /applications/{case_id} 200",
        "refused GET '/applications/{case_id}'", "looked up", "GET /applications/{case_id} 200",
        "GET /fails/{case_id} 500", "GET (no route) 404"]
    assert [line.get("case_id") for line in lines] == [CASE] * 3 + [None] * 5
    refused, inside, served = lines[:3]
    assert refused["path"] == "/applications/{case_id}" and refused["logger"] == "onedoor.access"
    assert inside["logger"] == "onedoor.test"
    assert served["route"] == "/applications/{case_id}" and served["status"] == 200
    assert served["method"] == "GET" and served["duration_ms"] >= 0
    assert lines[6]["status"] == 500 and lines[7]["route"] == "(no route)"


def test_configure_routes_uvicorn_and_warnings_through_json_lines(capsys):
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), sys.excepthook, threading.excepthook,
             {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
              for name in ("uvicorn", "uvicorn.error", "uvicorn.access")})
    logging.getLogger("uvicorn").addHandler(logging.StreamHandler(sys.stderr))
    logging.getLogger("uvicorn").propagate = False
    try:
        logs.configure("payment", "info")
        logs.configure("payment", "INFO")  # once is enough: no second handler
        try:
            raise ValueError(RESIDENT_ID)
        except ValueError as exc:
            logging.getLogger("uvicorn.error").error("Exception in ASGI application\n",
                                                     exc_info=exc)
        logging.getLogger("onedoor.test").info("an INFO line is kept")
        err = capsys.readouterr().err
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        sys.excepthook, threading.excepthook = saved[2], saved[3]
        for name, (handlers, propagate) in saved[4].items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate
        logging.captureWarnings(False)
    assert RESIDENT_ID not in err
    uvicorn_line, info_line = (json.loads(line) for line in err.splitlines())
    assert uvicorn_line["logger"] == "uvicorn.error" and uvicorn_line["service"] == "payment"
    assert uvicorn_line["exception"]["type"] == "ValueError"
    assert info_line["message"] == "an INFO line is kept"
