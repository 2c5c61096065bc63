"""Large base64 parts, decoded straight from the raw bytes instead of by the MIME parser.

The stdlib feedparser (under mail-parser) holds a body as a list of line objects:
a 36 MB message with a 25 MB attachment peaks at over 300 MB. Before parsing,
each run of base64 lines longer than THRESHOLD is decoded here from a slice of
the raw bytes and replaced by the base64 of a short random token; the parser
then sees a small message, and the attachment whose decoded data is a token
gets the real bytes back. A token the parser does not hand back (the run was
not a base64 attachment after all) makes the caller parse the full message.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

THRESHOLD = 1024 * 1024  # bytes of base64 text above which a run is lifted out
# Single character classes only: the regex engine then keeps no state per repetition (a repeated
# group over 470,000 base64 lines made it allocate 120 MB). The lookbehind lets a match start only
# where a run starts: without it a run a little shorter than THRESHOLD was scanned again from each
# of its positions (quadratic: 250 s for one 1.2 MB part).
_B64 = rb"A-Za-z0-9+/=\r\n"
_CANDIDATE = re.compile(rb"(?<![%s])[%s]{%d,}" % (_B64, _B64, THRESHOLD))
# base64 in mail comes in lines of at most 76 (RFC 2045); anchored at line starts, or each position
# of each line would be tried (8 s over a 36 MB part)
_LONG_LINE = re.compile(rb"^[^\r\n]{101}", re.M)


def _runs(raw: bytes) -> list[tuple[int, int]]:
    """Whole lines of base64 text, THRESHOLD bytes or more, blank lines around them left out."""
    out = []
    for match in _CANDIDATE.finditer(raw):
        start, end = match.start(), match.end()
        if start > 0 and raw[start - 1 : start] != b"\n":  # began mid-line: from the next line on
            start = raw.find(b"\n", start, end) + 1
        while raw.startswith(b"\r\n", start) or raw.startswith(b"\n", start):
            start += 2 if raw.startswith(b"\r\n", start) else 1
        end = raw.rfind(b"\n", start, end) + 1  # up to the end of its last whole line
        while end - start > 2 and raw[end - 2 : end] == b"\r\n" and raw[end - 4 : end - 2] in (b"\r\n", b"=\n"):
            end -= 2  # a trailing blank line belongs to the boundary
        # the first lines tell base64 from a long text; a wrong guess costs a second parse, not a wrong result
        if start <= 0 or end - start < THRESHOLD or _LONG_LINE.search(raw, start, start + 2048):
            continue
        out.append((start, end))
    return out


def _decode(text: memoryview) -> tuple[bytes, bool]:
    """Strict first; else the longest decodable prefix (as parse._b64decode does). A view: no copy."""
    try:
        return base64.b64decode(text), False
    except (binascii.Error, ValueError):
        clean = re.sub(rb"[^A-Za-z0-9+/]", b"", bytes(text))
        clean = clean[: len(clean) - len(clean) % 4]
        try:
            return base64.b64decode(clean), True
        except (binascii.Error, ValueError):
            return b"", True


def lift(raw: bytes) -> tuple[bytes, dict[bytes, tuple[bytes, bool]]]:
    """(the message with its large base64 runs replaced by tokens, {token: (decoded bytes, broken)})."""
    if len(raw) < THRESHOLD:
        return raw, {}
    lifted: dict[bytes, tuple[bytes, bool]] = {}
    pieces: list[bytes] = []
    view = memoryview(raw)
    last = 0
    for start, end in _runs(raw):
        token = b"\0mailbot-lifted-" + os.urandom(12).hex().encode() + b"\0"
        lifted[token] = _decode(view[start:end])
        pieces += [raw[last:start], base64.b64encode(token) + b"\r\n"]
        last = end
    if not lifted:
        return raw, {}
    pieces.append(raw[last:])
    return b"".join(pieces), lifted
