"""``onedoor partners publish DEPT FILE``: a partner department sends a bulk file to a running
verification service (``POST /partner-publications``), and sees it go.

    export ONEDOOR_PARTNER_CREDENTIAL=…            # or --credential-file bank-token
    onedoor partners publish bank deposits-2026-11.ndjson

The file is streamed, never read whole (a department's month can be 10 million lines), and
hashed on the way; the bytes sent, then the lines the service has applied, show as a bar on a
terminal and plain lines elsewhere (``shared.progress``). The credential comes from a file or the
environment, never the command line (the shell's history and the process list keep that), and is
never printed. Lines carry resident ID numbers: only counts are printed, and the service's
refusals name fields, never values.

Running it again is safe: the service knows a publication by the SHA-256 of its bytes per
department, so the same file again answers the first report and changes nothing, and one cut off
resumes after its last applied line. The content is the key; there is no Idempotency-Key.

Exit status: 0 published (or published before); 1 refused by the service; 2 nothing sent (no
credential, no such file or department, an unknown format); 3 the service could not be reached
or failed, or is ingesting the same file right now — try again later.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from services.verification.domain.partners import DEPARTMENT_KINDS
from shared.progress import EVERY_S, Progress
from shared.settings import Settings, instances

CREDENTIAL_ENV = "ONEDOOR_PARTNER_CREDENTIAL"
URL_ENV = "ONEDOOR_VERIFICATION_URL"  # as `onedoor demo` reads it
MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv"}
SUFFIXES = {".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv"}
PIECE = 2**20  # bytes read and sent at a time
WAIT_S = 3600.0  # for the report after the last byte: 10 million lines take minutes to apply
REJECTIONS_SHOWN = 20
POLL_S = 1.0  # between two looks at the lines applied
OK, REFUSED, NOT_SENT, UNAVAILABLE = 0, 1, 2, 3
_SETTINGS_URL: str = Settings.model_fields["verification_url"].default


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "publish", help="send a bulk file (NDJSON or CSV) to the verification service as a "
                        "department, showing its progress")
    p.add_argument("department", help="the publishing department, e.g. bank")
    p.add_argument("file", type=Path, help="NDJSON (.ndjson, .jsonl) or CSV (.csv)")
    p.add_argument("--format", choices=sorted(MEDIA_TYPES),
                   help="the file's format (default: from its name)")
    p.add_argument("--credential-file", type=Path, metavar="PATH",
                   help=f"the department's credential (default: ${CREDENTIAL_ENV})")
    p.add_argument("--url", default=None,
                   help=f"the verification service (default: ${URL_ENV}, else "
                        f"{_SETTINGS_URL})")
    p.add_argument("--timeout", type=float, default=WAIT_S, metavar="SECONDS",
                   help=f"how long to wait for the report once sent (default {WAIT_S:g})")
    p.add_argument("--json", action="store_true",
                   help="print the service's answer as JSON, for scripts")
    p.set_defaults(func=_run)


def default_url() -> str:
    """The first instance of the verification URL setting, as `onedoor demo` finds it."""
    return instances(os.environ.get(URL_ENV) or _SETTINGS_URL)[0]


def _run(args: argparse.Namespace) -> int:
    credential = _credential(args.credential_file)
    if credential is None:
        return NOT_SENT
    return publish(args.url or default_url(), args.department, args.file, credential,
                   fmt=args.format, timeout_s=args.timeout, as_json=args.json)


def publish(url: str, department: str, path: Path, credential: str, *, fmt: str | None = None,
            timeout_s: float = WAIT_S, as_json: bool = False, every_s: float = EVERY_S,
            poll_s: float = POLL_S, transport: httpx.BaseTransport | None = None) -> int:
    """Send ``path`` as ``department``'s publication; print the report (stdout) and what
    happened (stderr). Returns the exit status."""
    if department not in DEPARTMENT_KINDS:
        return _say(NOT_SENT, f"department: not one of {', '.join(sorted(DEPARTMENT_KINDS))}")
    fmt = fmt or SUFFIXES.get(path.suffix.lower())
    if fmt not in MEDIA_TYPES:
        return _say(NOT_SENT, f"format: cannot tell from the name {path.name!r}; give --format")
    try:
        file = path.open("rb")
    except OSError as exc:  # the reason, not the content
        return _say(NOT_SENT, f"file: {exc.strerror or 'cannot be read'} ({path})")
    headers = {"Authorization": f"Bearer {credential}"}
    timeout = httpx.Timeout(30.0, read=timeout_s)
    try:
        with file, httpx.Client(base_url=url, timeout=timeout, headers=headers,
                                transport=transport) as client:
            refused = _not_theirs(client, department)
            if refused is not None:
                return refused
            applied = Applied(url, headers, department, every_s, poll_s)
            upload = Upload(file, os.fstat(file.fileno()).st_size, every_s,
                            then=applied.start, header=fmt == "csv")
            with applied, upload:
                response = client.post("/partner-publications", content=upload.pieces(),
                                       headers={"Content-Type": MEDIA_TYPES[fmt]})
                applied.lines = _lines_of(response)
            return _answered(response, upload, as_json)
    except httpx.InvalidURL as exc:
        return _say(NOT_SENT, f"url: {exc}")
    except httpx.TransportError as exc:
        # Whatever arrived, the service recognises the file when it is sent again.
        what = ("cannot reach" if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                else "lost the answer of")
        return _say(UNAVAILABLE, f"{what} the verification service at {url} "
                                 f"({type(exc).__name__}: {exc or 'no answer'}); running "
                                 "this again is safe")
    except KeyboardInterrupt:
        return _say(UNAVAILABLE, "interrupted; running this again is safe")


class Upload:
    """The file as the request's body: read ``PIECE`` at a time, hashed, lines and bytes
    counted, the bytes shown on a ``Progress`` as they leave; ``then`` is told the digest and
    the lines to apply once the last byte is sent."""

    def __init__(self, file: IO[bytes], size: int, every_s: float, *,
                 then: Callable[[str, int], None], header: bool) -> None:
        self.file, self.size, self._then, self._header = file, size, then, header
        self.sent = self.lines = 0
        self._open_line = False  # the last piece ended inside a line (no final newline)
        self.digest = hashlib.sha256()
        self._shown: Progress | None = Progress("upload", size, "bytes", every_s=every_s)

    def pieces(self) -> Iterator[bytes]:
        while piece := self.file.read(PIECE):
            self.digest.update(piece)
            self.lines += piece.count(b"\n")
            self._open_line = not piece.endswith(b"\n")
            yield piece
            # Asked for the next piece: this one is sent.
            self.sent += len(piece)
            if self._shown is not None:
                self._shown(self.sent)
        self.close()
        self.lines += self._open_line
        print(f"sent {self.sent:,} bytes, {self.lines:,} lines; the service applies them",
              file=sys.stderr, flush=True)
        self._then(self.digest.hexdigest(), max(self.lines - self._header, 0))

    def close(self) -> None:
        if self._shown is not None:
            self._shown.close()
            self._shown = None

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Applied:
    """The lines the service has applied, while it applies them: it answers only when done
    (minutes for 10 million lines), and counts each batch on the publication as it commits,
    which the department's list of its publications shows (found by the file's digest)."""

    def __init__(self, url: str, headers: dict[str, str], department: str, every_s: float,
                 poll_s: float) -> None:
        self._url, self._headers, self._department = url, headers, department
        self._every_s, self._poll_s = every_s, poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown: Progress | None = None
        self.lines: int | None = None  # the report's count, when it came: the last word

    def start(self, digest: str, lines: int) -> None:
        self._shown = Progress("apply", lines, "lines", every_s=self._every_s)
        self._thread = threading.Thread(target=self._follow, args=(digest,), daemon=True)
        self._thread.start()

    def __enter__(self) -> Applied:
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._shown is not None:
            if self.lines is not None:
                self._shown(self.lines)
            self._shown.close()

    def _follow(self, digest: str) -> None:
        # Its own client: the publication's request holds the other one's connection.
        with httpx.Client(base_url=self._url, headers=self._headers, timeout=10.0) as client:
            while not self._stop.wait(self._poll_s):
                try:
                    listed = client.get("/partner-publications", params={
                        "department": self._department, "limit": 10}).json()["publications"]
                    lines = next(p["lines"] for p in listed if p["digest"] == digest)
                except (httpx.HTTPError, ValueError, LookupError, TypeError, StopIteration):
                    continue  # not listed yet, or no answer: the publication's answer decides
                if self._shown is not None:
                    self._shown(lines)


def _lines_of(response: httpx.Response) -> int | None:
    lines = _json(response).get("lines") if response.status_code in (200, 201) else None
    return lines if isinstance(lines, int) else None


def _json(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; empty if it is none (a proxy's page, say)."""
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _not_theirs(client: httpx.Client, department: str) -> int | None:
    """Before sending: is the credential known, and ``department``'s? The service takes the
    department from the credential alone; a wrong one would have a file judged against another
    department's kinds, or sent whole to be refused."""
    response = client.get("/partner-publications",
                          params={"department": department, "limit": 1})
    if response.status_code == 401:
        # The listing, finding no department's credential, tries it as a staff access token
        # and says what is wrong with that; the publication would say this.
        return _say(REFUSED, "refused (401): unknown credential")
    if response.status_code == 403:
        return _say(REFUSED, f"refused: the credential is not {department}'s")
    if response.status_code != 200:
        return _refusal(response)
    return None


def _answered(response: httpx.Response, upload: Upload, as_json: bool) -> int:
    if response.status_code not in (200, 201):
        return _refusal(response)
    report = _json(response)
    if not report:
        return _say(UNAVAILABLE, f"the service answered {response.status_code} without a "
                                 "report; running this again is safe")
    if as_json:
        print(response.text)
    else:
        _print_report(report, new=response.status_code == 201)
    if report.get("digest") != upload.digest.hexdigest():
        return _say(REFUSED, "the service's digest differs from the file's: it did not receive "
                             "these bytes (was the file changing?)")
    return OK


def _print_report(report: dict[str, Any], *, new: bool) -> None:
    pid = report.get("publication_id")
    print(f"publication {pid}: " + ("published" if new else
                                    "the same file was published before; nothing applied again"))
    print(f"  {report.get('lines', 0):,} lines: {report.get('accepted', 0):,} accepted "
          f"({report.get('upserted', 0):,} upserted, {report.get('deleted', 0):,} deleted), "
          f"{report.get('rejected', 0):,} rejected")
    rejections = report.get("rejections") or []
    for r in rejections[:REJECTIONS_SHOWN]:  # a line's number and reason, never its content
        print(f"  line {r.get('line')}: {r.get('reason')}")
    more = report.get("rejected", 0) - min(len(rejections), REJECTIONS_SHOWN)
    if more > 0:
        print(f"  … {more:,} more (the first 1,000 reasons: GET /partner-publications/{pid})")


def _refusal(response: httpx.Response) -> int:
    """The service's refusal: its status and detail (which names fields, never values)."""
    code = response.status_code
    if code < 400 or code >= 500:
        return _say(UNAVAILABLE, f"the service failed ({code} {response.reason_phrase}); "
                                 "running this again is safe")
    detail = _json(response).get("detail")
    if isinstance(detail, list):  # a 422's problems: where, and what is wrong there
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}"
                           for d in detail if isinstance(d, dict))
    text = f"refused ({code}): {detail or response.reason_phrase}"
    if code == 409:
        return _say(UNAVAILABLE, f"{text}; try again when it is done")
    return _say(REFUSED, text)


def _credential(path: Path | None) -> str | None:
    if path is not None:
        try:
            found = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            _say(NOT_SENT, f"--credential-file: cannot be read ({type(exc).__name__})")
            return None
    else:
        found = os.environ.get(CREDENTIAL_ENV, "").strip()
    if not found:
        _say(NOT_SENT, f"credential: none given (--credential-file or ${CREDENTIAL_ENV})")
        return None
    return found


def _say(status: int, text: str) -> int:
    print(text, file=sys.stderr, flush=True)
    return status
