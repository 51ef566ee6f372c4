"""Turn an uploaded file into plain text sections that know their page and heading.

Blocking code: callers run `extract` in a thread. Every failure becomes a `DocumentError`
with a short reason the bot can explain to the user.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, TypeVar

from core.errors import ReasonedError
from core.i18n import detect_language

# pypdf, python-docx and trafilatura are imported where first used: a bot that is never
# sent a document does not carry them (BENCHMARKS.md: memory footprint).
if TYPE_CHECKING:
    from docx.table import Table
    from docx.text.paragraph import Paragraph
    from pypdf import PdfReader

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

SUPPORTED_KINDS: tuple[str, ...] = ("pdf", "docx", "txt", "markdown", "html", "csv")

SNIFF_BYTES = 8192  # how much of the file the type sniffers look at
PDF_HEADER_SEARCH_BYTES = 1024  # readers accept junk before %PDF-, so look a little further
DOCX_MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024  # a zip bomb must not fill memory
# Checked on the zip's declared sizes before python-docx inflates anything (zipfile stops
# at the declared size, so they bound what reading yields). Word's XML takes a few bytes
# per character of text; a real part compresses maybe 20 times, a bomb about 1000 times.
DOCX_XML_BYTES_PER_CHAR = 10
DOCX_MAX_COMPRESSION_RATIO = 100
DOCX_RATIO_CHECK_MIN_BYTES = 1024 * 1024
DEFAULT_MAX_TEXT_CHARS = 5_000_000  # KNOWLEDGE_MAX_TEXT_CHARS
LANGUAGE_SAMPLE_CHARS = 4000
# trafilatura slows down faster than linearly (about 5 s per MB at 1 MB); bigger pages
# get a plain tag strip instead of main-content detection.
HTML_MAIN_CONTENT_MAX_BYTES = 2 * 1024 * 1024
CSV_SNIFF_CHARS = 16 * 1024
CSV_ROWS_PER_SECTION = 50
CSV_DELIMITERS = ",;\t|"
STYLE_INHERITANCE_DEPTH = 4  # custom Word styles usually derive from a built-in heading
MARKDOWN_SPLIT_LEVELS = 3  # #, ## and ### start sections; deeper headings stay in the text
HEADING_PATH_SEPARATOR = " > "

_DOCX_MAIN_PART = "word/document.xml"
_KIND_BY_EXTENSION = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".txt": "txt",
    ".text": "txt",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".csv": "csv",
    ".tsv": "csv",
}
_KIND_BY_MIME = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/plain": "txt",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
}
_REFUSED_MIME_PREFIXES = ("image/", "audio/", "video/")
# Images, audio, video, executables, archives, legacy Office (OLE2) and RTF.
_BINARY_SIGNATURES = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF",
    b"OggS",
    b"ID3",
    b"fLaC",
    b"\xff\xfb",
    b"\xff\xf3",
    b"\x1a\x45\xdf\xa3",
    b"MZ",
    b"\x7fELF",
    b"\xca\xfe\xba\xbe",
    b"\xcf\xfa\xed\xfe",
    b"\xd0\xcf\x11\xe0",
    b"\x1f\x8b",
    b"7z\xbc\xaf",
    b"Rar!",
    b"BZh",
    b"\xfd7zXZ",
    b"{\\rtf",
)
_MP4_BOX = b"ftyp"  # MP4, MOV, M4A and HEIC carry it at offset 4
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html)", re.IGNORECASE)

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # Postgres text refuses NUL
_PAGE_BREAKS = re.compile(r"[\r\v\f\x85\u2028\u2029]")
_BLANK_LINE_RUNS = re.compile(r"\n{3,}")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_LINE_END_HYPHEN = re.compile(r"(\w)-\n(?=[a-zß-öø-ÿ])")  # "hyphen-\nated", not "Rio-\nSão"
_SOFT_HYPHEN = "\u00ad"
_HEADING_STYLE = re.compile(r"heading (\d)$", re.IGNORECASE)
_TITLE_STYLE = "title"
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_CODE_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Section:
    """A run of text with its place in the document."""

    text: str
    page: int | None = None  # 1-based page number (PDF only)
    heading: str | None = None  # the heading this text sits under, where the format has one


@dataclass(frozen=True)
class ExtractedDocument:
    """What a file says, in order, ready to be split into chunks."""

    title: str
    kind: str
    sections: list[Section]
    page_count: int | None
    language: str | None

    @property
    def char_count(self) -> int:
        """Size of the text, for limits and progress messages."""
        return sum(len(section.text) for section in self.sections)


class DocumentError(ReasonedError):
    """Why a file cannot become knowledge."""


@dataclass(frozen=True)
class _Limits:
    """How much of a document the readers may take in."""

    max_pages: int
    max_text_chars: int


@dataclass
class _Parsed:
    """What one format's reader found; `extract` fills in the rest."""

    sections: list[Section]
    title: str | None = None
    page_count: int | None = None


# ---------------------------------------------------------------- type detection


def detect_kind(file_name: str, mime_type: str, data: bytes) -> str:
    """Kind from extension, MIME type and magic bytes; refuses what we cannot read."""
    head = data[:SNIFF_BYTES]
    declared = _declared_kind(file_name, mime_type)
    if b"%PDF-" in data[:PDF_HEADER_SEARCH_BYTES]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(data, declared)
    if head.startswith(_BINARY_SIGNATURES) or head[4:8] == _MP4_BOX:
        raise DocumentError("unsupported_type", f"binary signature {head[:8]!r}")
    if declared in ("pdf", "docx"):
        return declared  # damaged beyond its signature: extract reports it as broken
    if not _looks_like_text(head):
        raise DocumentError("unsupported_type", f"binary content named {file_name!r}")
    if declared:
        return declared
    if mime_type.lower().startswith(_REFUSED_MIME_PREFIXES):
        raise DocumentError("unsupported_type", mime_type)
    return "html" if _HTML_START.match(_strip_bom(head)) else "txt"


def _declared_kind(file_name: str, mime_type: str) -> str | None:
    """What the name, then the MIME type, claim the file is."""
    extension = PurePath(file_name).suffix.lower()
    if extension in _KIND_BY_EXTENSION:
        return _KIND_BY_EXTENSION[extension]
    return _KIND_BY_MIME.get(mime_type.split(";")[0].strip().lower())


def _zip_kind(data: bytes, declared: str | None) -> str:
    """DOCX is a zip with a Word body; any other zip (xlsx, odt, plain archives) is refused."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            is_docx = _DOCX_MAIN_PART in archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        if declared == "docx":
            return "docx"  # a damaged Word file: extract reports it as broken
        raise DocumentError("unsupported_type", "unreadable zip") from None
    if not is_docx:
        raise DocumentError("unsupported_type", "zip without a Word document")
    return "docx"


def _looks_like_text(head: bytes) -> bool:
    """Text files have no NUL bytes, except UTF-16 ones, which announce themselves with a BOM."""
    return head.startswith(_UTF16_BOMS) or b"\x00" not in head


def _strip_bom(head: bytes) -> bytes:
    """Editors on Windows start UTF-8 files with a BOM, which would hide a leading <html."""
    return head.removeprefix(codecs.BOM_UTF8)


# ---------------------------------------------------------------- extraction


def extract(
    data: bytes,
    *,
    file_name: str,
    mime_type: str,
    max_pages: int,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> ExtractedDocument:
    """Blocking (callers use asyncio.to_thread). Raises DocumentError.

    `max_text_chars` bounds the text a document may yield, whatever its size on disk.
    """
    if not data or data.isspace():
        raise DocumentError("empty", "no bytes")
    kind = "unknown"
    limits = _Limits(max_pages, max_text_chars)
    try:
        kind = detect_kind(file_name, mime_type, data)
        parsed = _READERS[kind](data, limits)
    except DocumentError:
        raise
    except Exception as error:
        # Parsers fail in endless ways on hostile files; the caller only needs to know it's broken.
        raise DocumentError("broken", f"{kind}: {type(error).__name__}: {error}") from error
    sections = [section for section in parsed.sections if section.text.strip()]
    if not sections:
        raise DocumentError("empty", f"{kind} without text")
    _check_text_size(sum(len(section.text) for section in sections), max_text_chars)
    return ExtractedDocument(
        title=parsed.title or PurePath(file_name).stem or file_name or kind,
        kind=kind,
        sections=sections,
        page_count=parsed.page_count,
        language=detect_language(_language_sample(sections)),
    )


def _check_text_size(chars: int, max_text_chars: int) -> None:
    """Refuse more text than any chunking, embedding and storage should take on."""
    if chars > max_text_chars:
        raise _too_much_text(f"{chars} characters", max_text_chars)


def _too_much_text(detail: str, max_text_chars: int) -> DocumentError:
    return DocumentError("too_much_text", detail, limit=f"{max_text_chars:,}")


def _language_sample(sections: Iterable[Section]) -> str:
    """The opening text only: enough to guess the language without scanning a whole book."""
    parts: list[str] = []
    size = 0
    for section in sections:
        parts.append(section.text[: LANGUAGE_SAMPLE_CHARS - size])
        size += len(parts[-1])
        if size >= LANGUAGE_SAMPLE_CHARS:
            break
    return "\n".join(parts)


def _tidy(text: str) -> str:
    """Normalise line ends, drop control characters and trailing blanks, keep indentation."""
    text = _PAGE_BREAKS.sub("\n", text.replace("\r\n", "\n"))
    text = _CONTROL_CHARS.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))  # faster than a regex
    return _BLANK_LINE_RUNS.sub("\n\n", text).strip("\n")


def _one_line(text: str) -> str:
    """Collapse all whitespace: titles, table cells and CSV values live on one line."""
    return " ".join(text.split())


# ---------------------------------------------------------------- PDF


def _read_pdf(data: bytes, limits: _Limits) -> _Parsed:
    """One section per page with text; scanned pages have none."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    _unlock(reader)
    page_count = len(reader.pages)
    if page_count > limits.max_pages:
        raise DocumentError(
            "too_many_pages",
            f"{page_count} pages, limit {limits.max_pages}",
            limit=limits.max_pages,
        )
    sections = list(_pdf_sections(reader, limits.max_text_chars))
    if not sections:
        raise DocumentError("no_text", f"{page_count} pages without extractable text")
    return _Parsed(sections, title=_pdf_title(reader), page_count=page_count)


def _unlock(reader: PdfReader) -> None:
    """Accept PDFs that open with an empty password (owner-only protection); refuse the rest."""
    from pypdf import PasswordType
    from pypdf.errors import DependencyError

    if not reader.is_encrypted:
        return
    try:
        result = reader.decrypt("")
    except DependencyError as error:  # AES needs the optional `cryptography` package
        raise DocumentError("encrypted", str(error)) from error
    if result == PasswordType.NOT_DECRYPTED:
        raise DocumentError("encrypted", "needs a password")


def _pdf_sections(reader: PdfReader, max_text_chars: int) -> Iterator[Section]:
    """Text of each page; one damaged page must not lose the others. Stops as soon as the
    text passes `max_text_chars`, without reading the remaining pages."""
    from pypdf.errors import DependencyError

    failures: list[str] = []
    chars = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = _clean_pdf_text(page.extract_text())
        except DependencyError as error:  # streams encrypted with AES
            raise DocumentError("encrypted", str(error)) from error
        except Exception as error:
            failures.append(f"page {number}: {type(error).__name__}: {error}")
            continue
        chars += len(text)
        _check_text_size(chars, max_text_chars)
        if text:
            yield Section(text, page=number)
    if failures and len(failures) == len(reader.pages):
        raise DocumentError("broken", "; ".join(failures[:3]))
    if failures:
        logger.warning("Skipped %d unreadable PDF pages: %s", len(failures), failures[:3])


def _clean_pdf_text(text: str) -> str:
    """Undo layout artefacts: runs of spaces and words hyphenated across lines."""
    text = _HORIZONTAL_SPACE.sub(" ", _tidy(text))
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _LINE_END_HYPHEN.sub(r"\1", text.replace(f"{_SOFT_HYPHEN}\n", "-\n"))
    return text.replace(_SOFT_HYPHEN, "").strip()


def _pdf_title(reader: PdfReader) -> str | None:
    """Metadata title; bad metadata only costs the title, never the document."""
    from pypdf.errors import PyPdfError

    try:
        metadata = reader.metadata
    except (PyPdfError, ValueError, KeyError, TypeError):
        return None
    title = metadata.title if metadata else None
    if not isinstance(title, str):
        return None
    return _one_line(_tidy(title)) or None


# ---------------------------------------------------------------- headings


class _SectionBuilder:
    """Collects text blocks under the current heading path; a new heading closes a section."""

    def __init__(self, joiner: str) -> None:
        self.joiner = joiner
        self._sections: list[Section] = []
        self.first_top_heading: str | None = None
        self._path: list[tuple[int, str]] = []
        self._blocks: list[str] = []

    def heading(self, level: int, text: str) -> None:
        """Close the running section and move to `text` at `level` (1 is the top)."""
        self._flush()
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, text))
        if level == 1 and self.first_top_heading is None:
            self.first_top_heading = text

    def add(self, text: str) -> None:
        """Append a paragraph, line or table to the running section."""
        self._blocks.append(text)

    def finish(self) -> list[Section]:
        """Close the last section and hand over all of them."""
        self._flush()
        return self._sections

    def _flush(self) -> None:
        text = _tidy(self.joiner.join(self._blocks))
        if text.strip():
            heading = HEADING_PATH_SEPARATOR.join(name for _, name in self._path) or None
            self._sections.append(Section(text, heading=heading))
        self._blocks = []


# ---------------------------------------------------------------- DOCX


def _read_docx(data: bytes, limits: _Limits) -> _Parsed:
    """Paragraphs and tables in reading order, split at Heading styles."""
    import docx
    from docx.table import Table

    _check_unzipped_size(data, limits.max_text_chars)
    document = docx.Document(io.BytesIO(data))
    builder = _SectionBuilder(joiner="\n\n")
    title = _one_line(document.core_properties.title or "") or None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            builder.add(_table_text(block))
            continue
        text = _one_line(block.text)
        level = _heading_level(block)
        if level is None:
            builder.add(block.text)
        elif text and level == 0:
            title = title or text
        elif text:
            builder.heading(level, text)
    return _Parsed(builder.finish(), title=title or builder.first_top_heading)


def _check_unzipped_size(data: bytes, max_text_chars: int) -> None:
    """Refuse a zip bomb from its directory, before python-docx inflates every part."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
    total = sum(member.file_size for member in members)
    xml = sum(member.file_size for member in members if member.filename.endswith((".xml", ".rels")))
    max_xml = max_text_chars * DOCX_XML_BYTES_PER_CHAR
    if total > DOCX_MAX_UNCOMPRESSED_BYTES or xml > max_xml:
        raise _too_much_text(f"expands to {total} bytes, {xml} of them XML", max_text_chars)
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > DOCX_RATIO_CHECK_MIN_BYTES and ratio > DOCX_MAX_COMPRESSION_RATIO:
            detail = f"{member.filename} expands {ratio:.0f} times"
            raise _too_much_text(detail, max_text_chars)


def _heading_level(paragraph: Paragraph) -> int | None:
    """Heading level from the paragraph style or the built-in style it derives from; 0 is Title."""
    style = paragraph.style
    for _ in range(STYLE_INHERITANCE_DEPTH):
        if style is None or style.name is None:
            return None
        if style.name.lower() == _TITLE_STYLE:
            return 0
        if match := _HEADING_STYLE.match(style.name):
            return int(match.group(1))
        style = style.base_style
    return None


def _table_text(table: Table) -> str:
    """One line per row, cells joined by ' | '; a merged cell appears once."""
    lines = []
    for row in table.rows:
        line = " | ".join(_one_line(cell.text) for cell in _distinct(row.cells))
        if line.strip(" |"):
            lines.append(line)
    return "\n".join(lines)


def _distinct(cells: Iterable[_T]) -> Iterator[_T]:
    """Drop the repeats python-docx yields for a cell spanning several grid columns."""
    previous: _T | None = None
    for cell in cells:
        if cell is not previous:
            yield cell
        previous = cell


# ---------------------------------------------------------------- Markdown, text, HTML, CSV


def _read_markdown(data: bytes, _limits: _Limits) -> _Parsed:
    """Sections at #, ## and ### headings, with the heading path; code blocks stay whole."""
    return _markdown_sections(_decode_text(data))


def _markdown_sections(text: str) -> _Parsed:
    """Hand-rolled because langchain's MarkdownHeaderTextSplitter strips code indentation."""
    builder = _SectionBuilder(joiner="\n")
    fence: str | None = None
    for line in text.splitlines():
        fence = _next_fence(fence, line)
        heading = None if fence else _ATX_HEADING.match(line)
        if heading and len(heading.group(1)) <= MARKDOWN_SPLIT_LEVELS and heading.group(2):
            builder.heading(len(heading.group(1)), heading.group(2).strip())
        else:
            builder.add(line)
    return _Parsed(builder.finish(), title=builder.first_top_heading)


def _next_fence(fence: str | None, line: str) -> str | None:
    """The code fence open after `line`: a fence closes on the same marker, at least as long."""
    match = _CODE_FENCE.match(line)
    if not match:
        return fence
    marker = match.group(1)
    if fence is None:
        return marker
    is_closing = marker[0] == fence[0] and len(marker) >= len(fence)
    return None if is_closing else fence


def _read_txt(data: bytes, _limits: _Limits) -> _Parsed:
    """One section: the splitter already breaks at paragraphs."""
    return _Parsed([Section(_tidy(_decode_text(data)))])


def _decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; otherwise Windows-1252, then Latin-1."""
    if data.startswith(_UTF16_BOMS):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # five bytes are undefined in cp1252; Latin-1 maps them all
        return data.decode("latin-1")


def _read_html(data: bytes, _limits: _Limits) -> _Parsed:
    """Main content without navigation or footers, split at its headings."""
    if len(data) > HTML_MAIN_CONTENT_MAX_BYTES:
        return _all_page_text(data)
    import trafilatura

    markdown = _main_content(data)
    parsed = _markdown_sections(markdown) if markdown else _all_page_text(data)
    metadata = trafilatura.extract_metadata(data, extensive=False)  # the title is enough
    return _Parsed(parsed.sections, title=(metadata.title if metadata else None) or parsed.title)


def _main_content(data: bytes) -> str | None:
    """The article as Markdown, so its headings can become sections."""
    import trafilatura

    return trafilatura.extract(
        data,
        output_format="markdown",
        include_tables=True,
        include_comments=False,
        include_images=False,
        favor_recall=True,
    )


def _all_page_text(data: bytes) -> _Parsed:
    """Every word of the page and its <title>: for pages with no article, or too big to look."""
    import trafilatura

    tree = trafilatura.load_html(data)
    title = tree.findtext(".//title") if tree is not None else None
    text = _tidy(trafilatura.html2txt(data))
    return _Parsed([Section(text)], title=_one_line(title or "") or None)


def _read_csv(data: bytes, _limits: _Limits) -> _Parsed:
    """Rows as 'column: value' lines, so each chunk carries its own column names."""
    text = _decode_text(data)
    rows = csv.reader(io.StringIO(text), _sniff_dialect(text))
    names = [_one_line(name) or f"column {index}" for index, name in enumerate(next(rows, []), 1)]
    lines = (_row_line(names, row) for row in rows)
    return _Parsed(list(_row_sections(line for line in lines if line)))


def _sniff_dialect(text: str) -> type[csv.Dialect]:
    """Delimiter and quoting from the first complete lines."""
    sample = text[:CSV_SNIFF_CHARS]
    if len(text) > CSV_SNIFF_CHARS:
        sample = sample[: sample.rfind("\n") + 1] or sample
    try:
        return csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS)
    except csv.Error:  # ragged rows confuse the sniffer; the header line rarely lies
        return _header_dialect(sample.partition("\n")[0])


def _header_dialect(header: str) -> type[csv.Dialect]:
    """Excel quoting with the delimiter the header uses most (commas when it has none)."""

    class HeaderDialect(csv.excel):
        delimiter = max(CSV_DELIMITERS, key=header.count)  # "," first, so it wins ties

    return HeaderDialect


def _row_line(names: list[str], row: list[str]) -> str:
    """'name: value; name: value', skipping empty cells; cells past the header get a number."""
    if len(row) > len(names):
        names.extend(f"column {index}" for index in range(len(names) + 1, len(row) + 1))
    pairs = zip(names, row, strict=False)  # short rows just lack their last columns
    return "; ".join(f"{name}: {_one_line(cell)}" for name, cell in pairs if cell.strip())


def _row_sections(lines: Iterable[str]) -> Iterator[Section]:
    """Batches of rows, headed by their 1-based row numbers (header row excluded)."""
    batch: list[str] = []
    first = 1
    for number, line in enumerate(lines, start=1):
        batch.append(line)
        if len(batch) == CSV_ROWS_PER_SECTION:
            yield Section(_tidy("\n".join(batch)), heading=f"rows {first}-{number}")
            batch, first = [], number + 1
    if batch:
        yield Section(_tidy("\n".join(batch)), heading=f"rows {first}-{first + len(batch) - 1}")


_READERS: dict[str, Callable[[bytes, _Limits], _Parsed]] = {
    "pdf": _read_pdf,
    "docx": _read_docx,
    "txt": _read_txt,
    "markdown": _read_markdown,
    "html": _read_html,
    "csv": _read_csv,
}
