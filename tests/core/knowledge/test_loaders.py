"""Real files in, sections with pages and headings out; every bad file gets its reason."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from pypdf import PageObject

from core.errors import explain
from core.knowledge import loaders
from core.knowledge.loaders import (
    SUPPORTED_KINDS,
    DocumentError,
    ExtractedDocument,
    Section,
    detect_kind,
    extract,
)
from tests import knowledge_fixtures as kf

MAX_PAGES = 50


def read(data: bytes, file_name: str, mime_type: str = "", max_pages: int = MAX_PAGES):
    """extract() with the keyword noise out of the way."""
    return extract(data, file_name=file_name, mime_type=mime_type, max_pages=max_pages)


def reason_for(data: bytes, file_name: str, mime_type: str = "", max_pages: int = MAX_PAGES) -> str:
    """The DocumentError reason extract() gives for this file."""
    with pytest.raises(DocumentError) as caught:
        read(data, file_name, mime_type, max_pages)
    return caught.value.reason


def docx_bomb(*, inflated_bytes: int) -> bytes:
    """A real DOCX whose body is rewritten as one paragraph of `inflated_bytes` letters."""
    template = io.BytesIO()
    docx.Document().save(template)
    output = io.BytesIO()
    with (
        zipfile.ZipFile(template) as source,
        zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
    ):
        for member in source.infolist():
            if member.filename != "word/document.xml":
                archive.writestr(member, source.read(member))
        # Streamed in, so building the bomb does not hold it in memory either.
        with archive.open("word/document.xml", "w", force_zip64=True) as body:
            body.write(b'<w:document xmlns:w="http://schemas.openxmlformats.org/')
            body.write(b'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>')
            block = b"a" * (1024 * 1024)
            for _ in range(inflated_bytes // len(block)):
                body.write(block)
            body.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return output.getvalue()


def section_with(document: ExtractedDocument, text: str) -> Section:
    """The one section holding `text`."""
    [section] = [section for section in document.sections if text in section.text]
    return section


SUPPORTED_CASES = [
    ("report.pdf", "application/pdf", kf.pdf_bytes(), "pdf"),
    ("no-extension", "", kf.pdf_bytes(), "pdf"),
    ("report.docx", "", kf.docx_bytes(), "docx"),
    ("attachment", "application/octet-stream", kf.docx_bytes(), "docx"),
    ("damaged.docx", "", kf.corrupt_docx_bytes(), "docx"),
    ("damaged.pdf", "", b"not really a pdf", "pdf"),
    ("notes.txt", "text/plain", kf.text_bytes(), "txt"),
    ("README.MD", "", kf.markdown_bytes(), "markdown"),
    ("notes", "text/markdown; charset=utf-8", kf.markdown_bytes(), "markdown"),
    ("page.htm", "", kf.html_page_bytes(), "html"),
    ("saved-page", "", kf.html_page_bytes(), "html"),
    ("people.tsv", "", kf.csv_bytes(delimiter="\t"), "csv"),
    ("export", "text/csv", kf.csv_bytes(), "csv"),
    ("script.py", "text/x-python", b"print('hello')\n", "txt"),
    ("utf16.txt", "", kf.text_bytes(encoding="utf-16"), "txt"),
]


class TestDetectKind:
    @pytest.mark.parametrize(("file_name", "mime_type", "data", "kind"), SUPPORTED_CASES)
    def test_supported(self, file_name: str, mime_type: str, data: bytes, kind: str) -> None:
        assert detect_kind(file_name, mime_type, data) == kind

    def test_every_supported_kind_is_detected(self) -> None:
        assert {case[3] for case in SUPPORTED_CASES} == set(SUPPORTED_KINDS)

    @pytest.mark.parametrize(
        ("file_name", "mime_type", "data"),
        [
            ("photo.png", "image/png", kf.png_bytes()),
            ("photo.txt", "", kf.png_bytes()),
            ("setup.exe", "application/x-msdownload", kf.exe_bytes()),
            ("archive.zip", "application/zip", kf.zip_bytes()),
            ("report.docx", "", kf.zip_bytes()),
            ("old.doc", "application/msword", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64)),
            ("letter.doc", "application/msword", b"{\\rtf1\\ansi hello}"),
            ("voice.ogg", "audio/ogg", b"OggS\x00\x02" + bytes(32)),
            ("clip.mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(32)),
            ("drawing.svg", "image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            ("blob", "application/octet-stream", b"\x01\x02\x00\x03" * 10),
        ],
    )
    def test_unsupported(self, file_name: str, mime_type: str, data: bytes) -> None:
        with pytest.raises(DocumentError) as caught:
            detect_kind(file_name, mime_type, data)
        assert caught.value.reason == "unsupported_type"


class TestPdf:
    def test_each_fact_sits_on_its_page(self) -> None:
        document = read(kf.pdf_bytes(title="Harbour Notes"), "harbour.pdf")
        assert (document.kind, document.page_count, document.title) == ("pdf", 3, "Harbour Notes")
        for page, fact in enumerate(kf.PDF_FACTS, start=1):
            assert section_with(document, fact).page == page
        assert document.language == "en"

    def test_many_pages_keep_their_numbers(self) -> None:
        document = read(kf.pdf_bytes(kf.fact_pages(12)), "shelves.pdf")
        assert section_with(document, "Shelf 11 holds box number 407.").page == 11

    def test_title_falls_back_to_file_name(self) -> None:
        assert read(kf.pdf_bytes(), "tide tables.pdf").title == "tide tables"

    def test_blank_pages_are_skipped(self) -> None:
        document = read(kf.pdf_bytes(["First page.", "", "Third page."]), "gaps.pdf")
        assert [section.page for section in document.sections] == [1, 3]
        assert document.page_count == 3

    def test_line_end_hyphens_and_spacing_are_cleaned(self) -> None:
        page = "An exam-\nple of hyphen-\nation,   with   wide gaps.\nNamed Rio-\nSão Paulo."
        [section] = read(kf.pdf_bytes([page]), "layout.pdf").sections
        assert section.text == "An example of hyphenation, with wide gaps.\nNamed Rio-\nSão Paulo."

    def test_password_protected_is_refused(self) -> None:
        assert reason_for(kf.encrypted_pdf_bytes(), "locked.pdf") == "encrypted"

    def test_owner_only_protection_opens(self) -> None:
        document = read(kf.encrypted_pdf_bytes(user_password=""), "owner-only.pdf")
        assert section_with(document, kf.PDF_FACTS[1]).page == 2

    def test_truncated_file_is_broken(self) -> None:
        assert reason_for(kf.corrupt_pdf_bytes(), "download.pdf") == "broken"

    def test_reading_stops_once_the_text_passes_the_limit(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        pages = kf.fact_pages(6)
        read_pages: list[int] = []
        extract_text = PageObject.extract_text

        def counting(page: PageObject, *args: object, **kwargs: object) -> str:
            read_pages.append(page.page_number or 0)
            return extract_text(page, *args, **kwargs)

        monkeypatch.setattr(PageObject, "extract_text", counting)
        with pytest.raises(DocumentError) as caught:
            extract(
                kf.pdf_bytes(pages),
                file_name="facts.pdf",
                mime_type="",
                max_pages=MAX_PAGES,
                max_text_chars=len(pages[0]) + 1,
            )
        assert caught.value.reason == "too_much_text"
        assert len(read_pages) == 2 < len(pages)

    def test_garbage_named_pdf_is_broken(self) -> None:
        assert reason_for(b"%PDF-1.7\nthis is not a pdf body", "fake.pdf") == "broken"

    def test_scanned_pages_have_no_text(self) -> None:
        assert reason_for(kf.image_only_pdf_bytes(), "scan.pdf") == "no_text"

    def test_page_limit(self) -> None:
        data = kf.pdf_bytes(kf.fact_pages(6))
        assert reason_for(data, "long.pdf", max_pages=5) == "too_many_pages"
        assert read(data, "long.pdf", max_pages=6).page_count == 6


class TestDocx:
    def test_sections_follow_headings(self) -> None:
        document = read(kf.docx_bytes(), "handbook.docx")
        assert document.kind == "docx"
        assert document.title == kf.DOCX_TITLE
        assert [section.heading for section in document.sections] == [
            "Installation",
            "Installation > Requirements",
            "Usage",
        ]
        assert section_with(document, kf.DOCX_INSTALL_TEXT).heading == "Installation"
        assert section_with(document, kf.DOCX_USAGE_TEXT).heading == "Usage"
        assert document.page_count is None

    def test_tables_become_cell_lines(self) -> None:
        document = read(kf.docx_bytes(), "handbook.docx")
        section = section_with(document, "redis | 6379")
        assert section.heading == "Installation > Requirements"
        assert "Service | Port\nredis | 6379\npostgres | 5432" in section.text

    def test_merged_cells_appear_once(self) -> None:
        document = docx.Document()
        table = document.add_table(rows=2, cols=3)
        table.cell(0, 0).merge(table.cell(0, 2)).text = "Quarterly totals"
        for cell, value in zip(table.rows[1].cells, ("Q1", "Q2", "Q3"), strict=True):
            cell.text = value
        output = io.BytesIO()
        document.save(output)
        [section] = read(output.getvalue(), "totals.docx").sections
        assert section.text == "Quarterly totals\nQ1 | Q2 | Q3"

    def test_core_title_wins(self) -> None:
        assert read(kf.docx_bytes(core_title="Ops 2025"), "handbook.docx").title == "Ops 2025"

    def test_truncated_file_is_broken(self) -> None:
        assert reason_for(kf.corrupt_docx_bytes(), "handbook.docx") == "broken"

    def test_malformed_body_is_broken(self) -> None:
        output = io.BytesIO()
        with zipfile.ZipFile(output, "w") as archive:
            archive.writestr("word/document.xml", "<w:document><unclosed>")
        assert reason_for(output.getvalue(), "odd.docx") == "broken"

    def test_document_without_text_is_empty(self) -> None:
        output = io.BytesIO()
        document = docx.Document()
        document.add_paragraph("   ")
        document.save(output)
        assert reason_for(output.getvalue(), "blank.docx") == "empty"

    def test_zip_bomb_is_refused_before_it_is_unpacked(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        bomb = docx_bomb(inflated_bytes=200 * 1024 * 1024)
        assert len(bomb) < 1024 * 1024
        opened: list[object] = []
        monkeypatch.setattr(docx, "Document", opened.append)
        with pytest.raises(DocumentError) as caught:
            read(bomb, "bomb.docx")
        assert caught.value.reason == "too_much_text"
        assert opened == []  # python-docx never saw it, so nothing was inflated
        assert explain(caught.value, "en") == (
            "it unpacks to far more text than I take (limit 5,000,000 characters)."
        )
        assert "5,000,000" in explain(caught.value, "pt-BR")

    def test_more_text_than_the_limit_is_refused(self) -> None:
        with pytest.raises(DocumentError) as caught:
            extract(
                kf.docx_bytes(),
                file_name="handbook.docx",
                mime_type="",
                max_pages=1,
                max_text_chars=100,
            )
        assert caught.value.reason == "too_much_text"


class TestMarkdown:
    def test_sections_carry_the_header_path(self) -> None:
        document = read(kf.markdown_bytes(), "guide.md")
        assert document.kind == "markdown"
        assert document.title == "Guide"
        assert [section.heading for section in document.sections] == [
            "Guide",
            "Guide > Intro",
            "Guide > Setup",
            "Guide > Setup > Database",
        ]

    def test_code_blocks_and_deep_headings_stay_whole(self) -> None:
        document = read(kf.markdown_bytes(), "guide.md")
        section = section_with(document, kf.MARKDOWN_CODE_BLOCK)
        assert section.heading == "Guide > Setup > Database"
        assert "#### Notes\n\nDeeper headings stay inside their section." in section.text

    def test_heading_levels_reset(self) -> None:
        text = b"# A\n\none\n\n### Deep\n\ntwo\n\n## B\n\nthree\n\n# C\n\nfour\n"
        headings = [section.heading for section in read(text, "levels.md").sections]
        assert headings == ["A", "A > Deep", "A > B", "C"]


class TestHtml:
    def test_main_content_without_boilerplate(self) -> None:
        document = read(kf.html_page_bytes(), "tomatoes.html", "text/html")
        assert (document.kind, document.title, document.language) == ("html", kf.HTML_TITLE, "en")
        text = "\n".join(section.text for section in document.sections)
        assert kf.HTML_MAIN_TEXT in text
        assert "Cherry Sweet" in text
        for boilerplate in kf.HTML_BOILERPLATE:
            assert boilerplate not in text

    def test_headings_become_sections(self) -> None:
        document = read(kf.html_page_bytes(), "tomatoes.html")
        section = section_with(document, kf.HTML_WATERING_TEXT)
        assert section.heading == f"{kf.HTML_TITLE} > Watering"

    def test_big_pages_keep_every_word(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(loaders, "HTML_MAIN_CONTENT_MAX_BYTES", 100)
        document = read(kf.html_page_bytes(), "tomatoes.html")
        assert "<title>" not in document.sections[0].text
        assert kf.HTML_MAIN_TEXT in document.sections[0].text
        assert document.title.startswith(kf.HTML_TITLE)

    def test_page_without_text_is_empty(self) -> None:
        assert reason_for(b"<html><body><div></div></body></html>", "blank.html") == "empty"


class TestCsv:
    def test_rows_name_their_columns_in_batches(self) -> None:
        document = read(kf.csv_bytes(120), "people.csv")
        assert document.kind == "csv"
        assert [section.heading for section in document.sections] == [
            "rows 1-50",
            "rows 51-100",
            "rows 101-120",
        ]
        lines = document.sections[0].text.splitlines()
        assert len(lines) == 50
        assert lines[6] == "id: 7; name: Person 7; city: Curitiba"

    def test_semicolons_and_ragged_rows(self) -> None:
        data = b"name;city\nAna;Recife;extra\nBia;\n"
        [section] = read(data, "ragged.csv").sections
        assert section.text == "name: Ana; city: Recife; column 3: extra\nname: Bia"

    def test_header_only_is_empty(self) -> None:
        assert reason_for(b"id,name,city\n", "none.csv") == "empty"


class TestText:
    def test_latin1_portuguese(self) -> None:
        document = read(kf.latin1_portuguese_bytes(), "condominio.txt")
        assert document.sections == [Section(kf.PORTUGUESE_TEXT)]
        assert document.language == "pt-BR"
        assert document.char_count == len(kf.PORTUGUESE_TEXT)

    @pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
    def test_encodings(self, encoding: str) -> None:
        text = kf.PORTUGUESE_TEXT + " “Aspas” – travessão."
        [section] = read(kf.text_bytes(text, encoding=encoding), "notas.txt").sections
        assert section.text == text

    def test_english_and_line_ends(self) -> None:
        data = kf.text_bytes(kf.ENGLISH_TEXT.replace("\n", "\r\n") + "  \r\n\r\n\r\n\r\n\x07")
        document = read(data, "report.txt")
        assert (document.kind, document.title, document.language) == ("txt", "report", "en")
        assert document.sections == [Section(kf.ENGLISH_TEXT)]

    @pytest.mark.parametrize("data", [b"", b" \n\t ", "\ufeff \n".encode()])
    def test_empty(self, data: bytes) -> None:
        assert reason_for(data, "empty.txt") == "empty"


def test_document_error_reads_well() -> None:
    error = DocumentError("broken", "pdf: PdfStreamError")
    assert (error.reason, error.detail, str(error)) == ("broken", "pdf: PdfStreamError", str(error))
    assert str(error) == "broken: pdf: PdfStreamError"
    assert str(DocumentError("empty")) == "empty"
