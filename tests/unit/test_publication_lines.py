"""A partner's file cut into lines (publishing._line_blocks), read in blocks, and the lines in
chunks (publishing._chunks): the lines are those of the file, wherever the blocks end, a line
longer than any record is refused without being held whole, and an ingestion that resumes
starts after the lines applied before."""

import io
import random
import tracemalloc

import pytest

from services.verification.domain.publication import MAX_LINE_BYTES
from services.verification.service_layer import publishing


def _numbered(data: bytes) -> list[tuple[int, bytes | None]]:
    return list(enumerate((line for block in publishing._line_blocks(io.BytesIO(data))
                           for line in block), 1))


def _expected(data: bytes) -> list[tuple[int, bytes | None]]:
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the newline ends the last line; no empty line after it
    return [(n, None if len(line) > MAX_LINE_BYTES else line)
            for n, line in enumerate(lines, 1)]


@pytest.mark.parametrize("block", [1, 7, 64, 4096, 2**20])
def test_lines_are_the_files_whatever_the_block(monkeypatch, block):
    rng = random.Random(block)
    pieces = [b"x" * rng.choice([0, 1, 5, 100, MAX_LINE_BYTES, MAX_LINE_BYTES + 1,
                                 3 * MAX_LINE_BYTES]) for _ in range(60)]
    pieces[10] = b'{"record_id": "a"}\r'  # CRLF: the CR stays for the line's reader to strip
    for ending in (b"", b"\n"):
        data = b"\n".join(pieces) + ending
        monkeypatch.setattr(publishing, "_BLOCK", block)
        assert _numbered(data) == _expected(data)


def test_a_long_line_is_never_held_whole(monkeypatch):
    monkeypatch.setattr(publishing, "_BLOCK", 1024)
    data = b"a\n" + b"y" * (100 * MAX_LINE_BYTES) + b"\nb"  # a 1.6 MB line
    tracemalloc.start()
    try:
        lines = _numbered(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == [(1, b"a"), (2, None), (3, b"b")]
    assert peak < 4 * MAX_LINE_BYTES, peak  # a block and a line's worth, not the 1.6 MB


def test_an_empty_file_has_no_lines():
    assert _numbered(b"") == []
    assert _numbered(b"\n") == [(1, b"")]


@pytest.mark.parametrize("after", [0, 1, 6, 7, 10, 25, 40])
def test_chunks_are_the_lines_after_those_applied(after):
    blocks = iter([[b"1", b"2", b"3"], [], [b"4"], [b"5", b"6", b"7", b"8", b"9", b"10"],
                   [b"11", b"12"]])
    chunks = list(publishing._chunks(blocks, first=1, after=after, size=4))
    assert [(first, len(raws)) for first, raws in chunks] == [
        (n, min(4, 12 - n + 1)) for n in range(after + 1, 13, 4)]
    assert [line for _, raws in chunks for line in raws] == [
        str(n).encode() for n in range(after + 1, 13)]
