"""Which required documents a message carries.

Each document file gets at most one type, decided in this order:
1. its name (keywords of the campaign's documents; several may match);
2. a cover letter (công văn) is set aside: beside other files it adds nothing;
3. its content: a keyword in the title region, else a roster-like table;
4. an archive's name types its untyped members.
The subject types the document files that are still untyped. The body counts
only when it holds a pasted duty list (names with telephone numbers); a mere
mention of a document in the text is no document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailbot.analysis import bodylist
from mailbot.analysis.textnorm import Keyword, find_any, find_phones, fold, name_matches, words
from mailbot.config import Campaign
from mailbot.envelope import Attachment, ParsedMessage

TITLE_CHARS = 900  # folded characters of a file that count as its title region
COVER_LETTER = tuple(Keyword.parse(k) for k in ("công văn", "CV", "tờ trình", "giấy giới thiệu", "thư ngỏ"))
_NAME_HEADERS = (Keyword.parse("họ và tên"), Keyword.parse("họ tên"), Keyword.parse("họ * tên"))
_PHONE_HEADERS = tuple(Keyword.parse(k) for k in ("điện thoại", "SĐT", "ĐT", "di động", "DĐ", "số máy"))
_ROSTER_DOC = "duty-list"


@dataclass
class Detection:
    documents: dict[str, list[str]] = field(default_factory=dict)  # doc id -> sources
    reasons: list[str] = field(default_factory=list)

    def add(self, doc_id: str, source: str) -> None:
        self.documents.setdefault(doc_id, [])
        if source not in self.documents[doc_id]:
            self.documents[doc_id].append(source)


def detect(parsed: ParsedMessage, campaign: Campaign) -> Detection:
    keywords = {d.id: tuple(Keyword.parse(k) for k in d.keywords) for d in campaign.documents}
    names = {d.id: d.name for d in campaign.documents}
    result = Detection()
    files = [a for a in parsed.attachments if a.is_document_file]
    types: dict[int, list[str]] = {}
    covers: list[Attachment] = []
    for index, att in enumerate(files):
        by_name = [doc for doc, kws in keywords.items() if name_matches(kws, _stem(att.filename))]
        if by_name and _ROSTER_DOC not in by_name and not att.is_archive:
            # "Phuong an truc.xlsx" titled DANH SÁCH CÁN BỘ TRỰC: "phương án trực" is what many offices
            # call a duty roster; a file whose own title says it is the duty list is one
            if _type_by_content(att.text, keywords) == _ROSTER_DOC:
                by_name = [_ROSTER_DOC]
        if by_name:
            types[index] = by_name
            result.reasons.append(f"tệp “{att.filename}” là {_names(by_name, names)} (theo tên tệp)")
            continue
        if att.is_archive:
            continue  # typed by its members, or types them below
        if name_matches(COVER_LETTER, _stem(att.filename)) or _looks_like_cover_letter(att.text):
            covers.append(att)
            continue
        by_content = _type_by_content(att.text, keywords)
        if by_content is None and att.ocr is not None:  # OCR's slips forgiven in what OCR read, only
            by_content = _type_by_content(ocr_text(att), keywords, tolerant=True)
        if by_content:
            types[index] = [by_content]
            result.reasons.append(f"tệp “{att.filename}” là {names[by_content]} (theo nội dung)")
    # an archive's name types its untyped members
    for index, att in enumerate(files):
        if att.is_archive and index in types:
            for mindex, member in enumerate(files):
                if member.container.endswith(att.filename) and mindex not in types:
                    types[mindex] = list(types[index])
    for index, doc_ids in types.items():
        for doc_id in doc_ids:
            result.add(doc_id, files[index].filename)
    untyped = [
        a for i, a in enumerate(files) if i not in types and a not in covers and not _is_typed_archive(a, files, types)
    ]
    if not untyped and covers and not types:
        untyped = covers  # a cover letter alone is described by its own V/v line and the subject
        for att in covers:
            doc = _type_by_content(att.text, keywords, title_only=True)
            if doc:
                result.add(doc, att.filename)
                result.reasons.append(f"công văn “{att.filename}” gửi {names[doc]} (theo trích yếu)")
    if untyped:
        subject_tokens = words(_strip_prefixes(parsed.subject))
        found = [doc for doc, kws in keywords.items() if find_any(kws, subject_tokens) >= 0]
        for doc in found:
            for att in untyped:
                result.add(doc, att.filename)
        if found:
            result.reasons.append(f"tiêu đề thư nêu {_names(found, names)} và thư có kèm tệp")
    elif covers and result.documents:
        result.reasons.append("công văn kèm theo không được tính là tài liệu riêng")
    if (
        _ROSTER_DOC in keywords
        and _ROSTER_DOC not in result.documents
        and any(is_pasted_roster(text) for text in bodylist.bodies(parsed.body_text, parsed.body_html))
    ):
        result.add(_ROSTER_DOC, "(nội dung thư)")
        result.reasons.append(f"nội dung thư có {names[_ROSTER_DOC]} (họ tên kèm số điện thoại)")
    hosts = shared_links(parsed.body_text + "\n" + (parsed.body_html or ""))
    if hosts:
        result.reasons.append(
            f"thư có đường dẫn tới tệp lưu trên mạng ({', '.join(hosts)}): mailbot không tải tệp qua đường dẫn, "
            "cán bộ mở đường dẫn để xem tài liệu"
        )
    return result


# file-sharing services carriers send documents through instead of attaching them
_SHARE_HOSTS = (
    "drive.google.com",
    "docs.google.com",
    "onedrive.live.com",
    "1drv.ms",
    "sharepoint.com",
    "dropbox.com",
    "fshare.vn",
    "mega.nz",
    "wetransfer.com",
    "we.tl",
    "box.com",
)
_URL_HOST = re.compile(r"https?://([a-z0-9.-]+)", re.I)


def shared_links(text: str) -> list[str]:
    """The file-sharing hosts a mail links to (a plan sent as a Drive or OneDrive link), once each."""
    found = []
    for host in _URL_HOST.findall(text[:200_000]):
        host = host.lower().rstrip(".")
        known = next((k for k in _SHARE_HOSTS if host == k or host.endswith("." + k)), None)
        if known and known not in found:
            found.append(known)
    return found


def _is_typed_archive(att: Attachment, files: list[Attachment], types: dict[int, list[str]]) -> bool:
    """An archive whose members carry types is not itself untyped."""
    if not att.is_archive:
        return False
    return any(m.container.endswith(att.filename) and i in types for i, m in enumerate(files))


def _names(doc_ids: list[str], names: dict[str, str]) -> str:
    return " và ".join(names[d].lower() if i else names[d] for i, d in enumerate(doc_ids))


def _stem(filename: str) -> str:
    base = filename.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def _strip_prefixes(subject: str) -> str:
    return re.sub(r"^(?:\s*(?:re|fw|fwd|tr|tl|v/v|vv)\s*:\s*)+", "", subject, flags=re.I)


def _looks_like_cover_letter(text: str) -> bool:
    """A công văn: 'V/v' summary line and 'Kính gửi' near the top."""
    head = fold(text[:2500])
    return bool(re.search(r"(?m)^\s*v/\s?v\b", head)) and "kinh gui" in head


def _title_region(text: str, title_only: bool) -> str:
    if title_only:
        match = re.search(r"(?im)^\s*v/\s?v[\s:.]*(.*(?:\n(?!\s*kinh gui).*){0,3})", fold(text[:2500]))
        return match.group(1) if match else ""
    return fold(text)[:TITLE_CHARS]


def ocr_text(att: Attachment) -> str:
    """What OCR read of a file (its typed text left out)."""
    return "\n".join(" | ".join(cell for cell in row if cell) for row in (att.ocr or {}).get("rows", []))


def _type_by_content(
    text: str, keywords: dict[str, tuple[Keyword, ...]], title_only: bool = False, tolerant: bool = False
) -> str | None:
    """`tolerant`: text read by OCR, a slipped letter forgiven (textnorm.edits_allowed)."""
    if not text.strip():
        return None
    tokens = _WORDS_RE.findall(_title_region(text, title_only))
    best: tuple[int, str] | None = None
    for doc, kws in keywords.items():
        pos = find_any(kws, tokens, tolerant)
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, doc)
    if best:
        return best[1]
    if not title_only and _ROSTER_DOC in keywords and is_roster_table(text, tolerant):
        return _ROSTER_DOC
    return None


_WORDS_RE = re.compile(r"[a-z0-9]+")


def is_roster_table(text: str, tolerant: bool = False) -> bool:
    """A header row naming people and telephones, followed by telephone numbers (`tolerant`: OCR text)."""
    lines = text.splitlines()
    for index, line in enumerate(lines[:200]):
        tokens = words(line)
        if find_any(_NAME_HEADERS, tokens, tolerant) >= 0 and find_any(_PHONE_HEADERS, tokens, tolerant) >= 0:
            following = "\n".join(lines[index + 1 : index + 40])
            return len(find_phones(following)) >= 1
    return False


def is_pasted_roster(body: str) -> bool:
    """A list or table of people with Vietnamese telephone numbers in the body.

    Quoted text and the signature block are ignored (bodylist.own_lines); a signature gives one
    person at most, so two are required.
    """
    own = bodylist.own_lines(body)
    if is_roster_table("\n".join(own)):
        return True
    people = set()
    for line in own:
        found = bodylist.person(line)
        phones = find_phones(line)
        if found and phones:
            people.add((found[0], phones[0]))
    return len(people) >= 2
