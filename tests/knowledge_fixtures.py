"""Real documents built in memory for knowledge tests; every builder returns the file's bytes.

Each builder is small and deterministic, and the facts it plants are module constants, so
ingestion and retrieval tests can ask about them ("what is on page 3?") without magic strings.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence

import docx
from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader, PdfWriter

PDF_FONT = "Helvetica"  # a core font: no font files needed, covers Latin-1 (Portuguese too)
PDF_FONT_SIZE_PT = 11
PDF_LINE_HEIGHT_MM = 6
PDF_PASSWORD = "s3cret"
PDF_OWNER_PASSWORD = "owner-only"
# pypdf encrypts with RC4 on its own; AES would need the `cryptography` package.
PDF_ENCRYPTION = "RC4-128"

PDF_FACTS = (
    "The lighthouse on Cape Orla was painted red in 1911.",
    "The north archive opens with access code 4417.",
    "The harbour office prints the tide tables every Thursday.",
)
PDF_FILLER = "Ships come and go while the keepers write down the weather in their log books."


def fact_pages(count: int = len(PDF_FACTS)) -> list[str]:
    """Page texts where page n (1-based) holds fact n: PDF_FACTS first, then numbered ones."""
    facts = [*PDF_FACTS, *(f"Shelf {n} holds box number {n * 37}." for n in range(4, count + 1))]
    return [f"{fact}\n{PDF_FILLER}" for fact in facts[:count]]


def pdf_bytes(pages: Sequence[str] | None = None, *, title: str | None = None) -> bytes:
    """A text PDF with one page per string ("" makes a blank page); defaults to fact_pages()."""
    pdf = FPDF()
    pdf.set_font(PDF_FONT, size=PDF_FONT_SIZE_PT)
    if title:
        pdf.set_title(title)
    for text in fact_pages() if pages is None else pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, PDF_LINE_HEIGHT_MM, text)
    return bytes(pdf.output())


def encrypted_pdf_bytes(*, user_password: str = PDF_PASSWORD) -> bytes:
    """pdf_bytes() encrypted; with user_password="" it opens without a password (owner-only)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes())))
    writer.encrypt(
        user_password=user_password, owner_password=PDF_OWNER_PASSWORD, algorithm=PDF_ENCRYPTION
    )
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def image_only_pdf_bytes(page_count: int = 2) -> bytes:
    """A 'scanned' PDF: every page is a picture, there is no text layer."""
    pdf = FPDF()
    for _ in range(page_count):
        pdf.add_page()
        pdf.image(Image.new("RGB", (160, 90), "lightgray"), x=20, y=20, w=120)
    return bytes(pdf.output())


def corrupt_pdf_bytes() -> bytes:
    """The first half of a real PDF, as a failed download leaves it."""
    data = pdf_bytes()
    return data[: len(data) // 2]


DOCX_TITLE = "Operations Handbook"
DOCX_INSTALL_TEXT = "Run the installer as an administrator and restart the machine afterwards."
DOCX_REQUIREMENTS_TEXT = "The service needs Redis and Postgres on the same network."
DOCX_USAGE_TEXT = "Send a message to the bot and wait for the answer."
DOCX_TABLE = (("Service", "Port"), ("redis", "6379"), ("postgres", "5432"))


def docx_bytes(*, core_title: str = "") -> bytes:
    """A Word file: Title, 'Installation' > 'Requirements' (with a table), then 'Usage'."""
    document = docx.Document()
    document.core_properties.title = core_title
    document.add_heading(DOCX_TITLE, level=0)
    document.add_heading("Installation", level=1)
    document.add_paragraph(DOCX_INSTALL_TEXT)
    document.add_heading("Requirements", level=2)
    document.add_paragraph(DOCX_REQUIREMENTS_TEXT)
    table = document.add_table(rows=len(DOCX_TABLE), cols=len(DOCX_TABLE[0]))
    for row, values in zip(table.rows, DOCX_TABLE, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_heading("Usage", level=1)
    document.add_paragraph(DOCX_USAGE_TEXT)
    output = io.BytesIO()
    document.save(output)
    return output.getvalue()


def corrupt_docx_bytes() -> bytes:
    """The first half of a real DOCX: still starts like a zip, but its directory is gone."""
    data = docx_bytes()
    return data[: len(data) // 2]


HTML_TITLE = "Growing Tomatoes at Home"
HTML_MAIN_TEXT = "Tomatoes need at least six hours of direct sunlight every day"
HTML_WATERING_TEXT = "Water the plants deeply twice a week"
HTML_BOILERPLATE = ("Shop our seeds", "All rights reserved", "Subscribe to our newsletter")


def html_page_bytes() -> bytes:
    """A blog page: navigation, an article with headings and a table, and a footer."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{HTML_TITLE} | Garden Blog</title></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/shop">Shop our seeds</a></li></ul></nav>
<main><article>
<h1>{HTML_TITLE}</h1>
<p>{HTML_MAIN_TEXT} to produce a good harvest. Plant them after the last frost, when the
soil has warmed up and the nights stay above ten degrees.</p>
<h2>Watering</h2>
<p>{HTML_WATERING_TEXT} rather than a little every day, so the roots grow down into
the soil. A layer of mulch keeps the moisture in during hot weeks.</p>
<h2>Varieties</h2>
<table><tr><th>Variety</th><th>Days to harvest</th></tr>
<tr><td>Cherry Sweet</td><td>55</td></tr><tr><td>Roma</td><td>75</td></tr></table>
<p>Cherry tomatoes ripen first, which makes them a good choice for short summers.</p>
</article></main>
<footer><p>Copyright 2024 Garden Blog. All rights reserved.
Subscribe to our newsletter.</p></footer>
</body></html>""".encode()


MARKDOWN_CODE_BLOCK = """```python
# this comment is not a heading
def greet(name):
    return f"hello {name}"
```"""


def markdown_bytes() -> bytes:
    """Markdown with # / ## / ### headers and a fenced code block holding a '#' line."""
    return f"""# Guide

Welcome to the guide for the assistant.

## Intro

The assistant answers questions about your documents.

## Setup

Install the package first.

### Database

Start Postgres before the bot, then run the migrations.

{MARKDOWN_CODE_BLOCK}

#### Notes

Deeper headings stay inside their section.
""".encode()


CSV_HEADER = ("id", "name", "city")
CSV_CITIES = ("Lisbon", "Recife", "Porto", "Curitiba")


def csv_bytes(row_count: int = 120, *, delimiter: str = ",") -> bytes:
    """A header row, then person n (1-based) living in CSV_CITIES[n % 4]."""
    output = io.StringIO()
    writer = csv.writer(output, delimiter=delimiter, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for n in range(1, row_count + 1):
        writer.writerow((n, f"Person {n}", CSV_CITIES[n % len(CSV_CITIES)]))
    return output.getvalue().encode()


ENGLISH_TEXT = """The quarterly report shows that the new warehouse in the north is now open.

It was built in eight months and it can store more than two thousand pallets. The team
thanks everyone who helped with the move, and asks you to read the safety notes."""

PORTUGUESE_TEXT = """Relatório do mês: a reunião de condomínio será na próxima terça-feira.

A manutenção do elevador está prevista para junho, e não haverá água quente durante a
obra. Por favor, verifique a convocação que está na portaria e traga suas sugestões."""


def text_bytes(text: str = ENGLISH_TEXT, *, encoding: str = "utf-8") -> bytes:
    """Plain text in any encoding: 'utf-8-sig' adds a BOM, 'latin-1' is the old Windows way."""
    return text.encode(encoding)


def latin1_portuguese_bytes() -> bytes:
    """PORTUGUESE_TEXT as a Latin-1 file, as old Windows editors save it."""
    return text_bytes(PORTUGUESE_TEXT, encoding="latin-1")


def png_bytes() -> bytes:
    """A small PNG picture."""
    output = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(output, format="PNG")
    return output.getvalue()


def exe_bytes() -> bytes:
    """The start of a Windows executable (DOS header magic and NUL padding)."""
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48)


def zip_bytes() -> bytes:
    """A plain zip archive holding one text file (not a Word document)."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("notes.txt", ENGLISH_TEXT)
    return output.getvalue()
