"""What an upload is, from real bytes: images made with Pillow, documents and archives made
with the standard library, executables' headers, text in several encodings."""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import struct
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from parley_files.domain.errors import Refused
from parley_files.domain.kinds import (
    ARCHIVES,
    EMPTY,
    EXECUTABLES,
    HEAD_BYTES,
    MACROS,
    UNSUPPORTED,
    Kind,
    is_zip,
    sniff,
    text_encoding,
)

OOXML = {
    Kind.DOCX: ["word/document.xml", "word/styles.xml"],
    Kind.PPTX: ["ppt/presentation.xml", "ppt/slides/slide1.xml"],
    Kind.XLSX: ["xl/workbook.xml", "xl/worksheets/sheet1.xml"],
}
LATIN1 = (
    "Le café où nous déjeunions était très agréable; la crème brûlée, délicieuse. "
    "Après le déjeuner, nous sommes allés voir l'exposition à côté du théâtre.\n"
) * 4


def image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 8), (200, 10, 10)).save(out, fmt)
    return out.getvalue()


def zipped(names: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, f"<part name='{name}'/>")
    return out.getvalue()


def sniff_upload(data: bytes) -> Kind:
    """As the caller does: the head, and the directory's names when it is a zip."""
    head = data[:HEAD_BYTES]
    if not is_zip(head):
        return sniff(head)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    return sniff(head, zip_names=names)


def refusal(data: bytes) -> str:
    with pytest.raises(Refused) as caught:
        sniff_upload(data)
    return caught.value.reason


@pytest.mark.parametrize(
    ("fmt", "kind"), [("PNG", Kind.PNG), ("JPEG", Kind.JPEG), ("WEBP", Kind.WEBP), ("GIF", Kind.GIF)]
)
def test_images_are_known_by_their_signature(fmt: str, kind: Kind) -> None:
    assert sniff_upload(image(fmt)) is kind
    assert kind.is_image
    assert kind.mime == f"image/{fmt.lower()}"


def test_a_pdf_is_a_pdf() -> None:
    pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    assert sniff_upload(pdf) is Kind.PDF
    assert Kind.PDF.mime == "application/pdf"
    assert not Kind.PDF.is_image


@pytest.mark.parametrize("kind", list(OOXML))
def test_office_documents_are_told_apart_by_their_main_part(kind: Kind) -> None:
    data = zipped(["[Content_Types].xml", "_rels/.rels", *OOXML[kind]])
    assert is_zip(data[:HEAD_BYTES])
    assert sniff_upload(data) is kind
    assert kind.mime.startswith("application/vnd.openxmlformats-officedocument.")


def test_the_main_part_may_come_last_after_a_large_member() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("docProps/thumbnail.bin", bytes(range(256)) * 64)
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("Word/Document.xml", "<w:document/>")
    assert sniff_upload(out.getvalue()) is Kind.DOCX


def test_a_plain_zip_is_an_archive() -> None:
    assert refusal(zipped(["notes.txt", "photo.jpg"])) == ARCHIVES


@pytest.mark.parametrize(
    "names",
    [
        ["[Content_Types].xml", "_rels/.rels"],
        ["[Content_Types].xml", "word/document.xml", "xl/workbook.xml"],
        ["mimetype", "content.xml", "META-INF/manifest.xml"],
    ],
    ids=["no-main-part", "two-main-parts", "opendocument"],
)
def test_other_zip_based_documents_are_not_supported(names: list[str]) -> None:
    assert refusal(zipped(names)) == UNSUPPORTED


def test_documents_with_macros_are_refused() -> None:
    names = ["[Content_Types].xml", "word/document.xml", "word/vbaProject.bin"]
    assert refusal(zipped(names)) == MACROS


def test_a_zip_without_its_names_is_a_mistake_of_the_caller() -> None:
    with pytest.raises(ValueError, match="zip_names"):
        sniff(zipped(["a.txt"]))


def pe_header() -> bytes:
    dos = bytearray(b"MZ" + bytes(0x3A) + struct.pack("<I", 0x80))
    dos += bytes(0x80 - len(dos))
    return bytes(dos) + b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x8664, 0, 0, 0, 0, 0xF0, 0x22) + bytes(300)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(Path(sys.executable).resolve().read_bytes()[:HEAD_BYTES], id="elf"),
        pytest.param(pe_header(), id="pe"),
        pytest.param(b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(64), id="mach-o"),
        pytest.param(b"\x00asm\x01\x00\x00\x00" + bytes(16), id="wasm"),
    ],
)
def test_executables_are_refused(data: bytes) -> None:
    assert refusal(data) == EXECUTABLES


def tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        payload = b"hello\n"
        member = tarfile.TarInfo("hello.txt")
        member.size = len(payload)
        archive.addfile(member, io.BytesIO(payload))
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(tar(), id="tar"),
        pytest.param(gzip.compress(tar()), id="gz"),
        pytest.param(bz2.compress(tar()), id="bz2"),
        pytest.param(lzma.compress(tar()), id="xz"),
        pytest.param(b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(40), id="7z"),
        pytest.param(b"Rar!\x1a\x07\x01\x00" + bytes(40), id="rar"),
    ],
)
def test_archives_are_refused(data: bytes) -> None:
    assert refusal(data) == ARCHIVES


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(image("BMP"), id="bmp"),
        pytest.param(image("TIFF"), id="tiff"),
        pytest.param(b"SQLite format 3\x00" + bytes(100), id="sqlite"),
        pytest.param(b"plain text\x00with a NUL byte\n" * 10, id="text-with-nul"),
        pytest.param(b"\x01\x02\x03\x04\x05\x06\x07\x08" * 64, id="binary-without-nul"),
    ],
)
def test_other_content_is_not_supported(data: bytes) -> None:
    assert refusal(data) == UNSUPPORTED


def test_an_empty_upload_is_refused() -> None:
    assert refusal(b"") == EMPTY


@pytest.mark.parametrize(
    "text",
    [
        "# Notes\n\nSome *markdown*, déjà vu.\n",
        "name,qty\nlamp,3\n",
        "import os\n\n\ndef f(x):\n    return x + 1\n",
        "BMW and MZ and ID3 begin these lines, like signatures do.\n",
        "%!PS-Adobe-3.0 is only text here\n",
        "<?xml version='1.0'?><note>not html</note>\n",
        "\x1b[31mred log line\x1b[0m\n",
    ],
)
def test_text_is_text_whatever_it_begins_with(text: str) -> None:
    assert sniff_upload(text.encode()) is Kind.TEXT


@pytest.mark.parametrize(
    "html",
    [
        "<!DOCTYPE html><html><body><p>Hi</p></body></html>",
        "\ufeff\n  <html lang='en'>\n<p>Hi</p></html>",
        "<!-- generated -->\n<div>Hi</div>",
        "<P>one paragraph</P>",
    ],
)
def test_html_is_known_from_its_start(html: str) -> None:
    assert sniff_upload(html.encode("utf-8")) is Kind.HTML
    assert Kind.HTML.mime == "text/html"


def test_latin1_html_is_html() -> None:
    html = f"<html><body><p>{LATIN1}</p></body></html>"
    assert sniff_upload(html.encode("latin-1")) is Kind.HTML


def test_latin1_and_utf16_text_are_text() -> None:
    assert sniff_upload(LATIN1.encode("latin-1")) is Kind.TEXT
    assert sniff_upload(LATIN1.encode("utf-16")) is Kind.TEXT


def test_a_head_may_end_in_the_middle_of_a_character() -> None:
    text = ("é" * (HEAD_BYTES // 2 + 10)).encode()
    head = text[: HEAD_BYTES - 1]
    assert sniff(head) is Kind.TEXT
    assert text_encoding(head, complete=False) == "utf-8"
    assert text_encoding(head) != "utf-8"


def test_text_encoding_names_a_codec_that_decodes_the_text() -> None:
    assert text_encoding("héllo\n".encode()) == "utf-8"
    assert text_encoding(codecs.BOM_UTF8 + b"hello\n") == "utf-8-sig"
    assert text_encoding(LATIN1.encode("utf-16")) == "utf-16"
    for data in (LATIN1.encode("latin-1"), LATIN1.encode("cp1252")):
        encoding = text_encoding(data)
        assert encoding is not None
        assert data.decode(encoding) == LATIN1


@pytest.mark.parametrize("data", [b"text\x00text", b"text \x07 bell", "bom then nul\x00".encode("utf-16")])
def test_control_characters_mean_binary(data: bytes) -> None:
    assert text_encoding(data) is None
