"""Bank files (银行代发文件): the disbursement file a bank pays from and the result it sends back.

Both are CSV written by the ``csv`` module, UTF-8 without a byte-order mark, each record ending
in CRLF (RFC 4180 and what bank and spreadsheet software expect). Open files with
``newline=""`` so the csv module alone decides line endings. Every file is a header (H), payment
lines (D) and a trailer (T) whose count and totals let both sides see a truncated or altered
file. The layouts are documented in docs/BANK_FILES.md; amounts are always integer fen.

``disbursement.py`` writes and reads the file a bank pays from, ``results.py`` the file it sends
back, and ``cells.py`` holds what both are made of (records in order, the checks on each cell).
"""
