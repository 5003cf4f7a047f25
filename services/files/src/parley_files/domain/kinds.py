"""What an upload is, decided from its bytes: never from its name nor the client's Content-Type.

The caller reads the first `HEAD_BYTES` of the upload and, when `is_zip(head)`, the member
names from the zip's central directory (and checks them with `zip_limits.check_ooxml`), then
calls `sniff`. Text is judged on the head only; whoever decodes the whole text calls
`text_encoding(data)` on all of it.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from enum import Enum

import charset_normalizer
import filetype  # type: ignore[import-untyped]  # filetype ships no type information

from parley_files.domain.errors import Refused

HEAD_BYTES = 8192
"""As much as `filetype` ever reads; enough for the tar signature at offset 257 too."""

EXECUTABLES = "executables are not accepted"
ARCHIVES = "archives are not accepted"
MACROS = "documents with macros are not accepted"
UNSUPPORTED = "this file's type is not supported"
EMPTY = "the file is empty"


class Kind(Enum):
    """The kinds of upload accepted, by their MIME type."""

    PNG = "image/png"
    JPEG = "image/jpeg"
    WEBP = "image/webp"
    GIF = "image/gif"
    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    HTML = "text/html"
    TEXT = "text/plain"

    @property
    def mime(self) -> str:
        return self.value

    @property
    def is_image(self) -> bool:
        return self.value.startswith("image/")


# filetype's extension names. An animated PNG is still a PNG (cleaning keeps its first frame).
_BY_SIGNATURE = {"png": Kind.PNG, "apng": Kind.PNG, "jpg": Kind.JPEG, "webp": Kind.WEBP}
_BY_SIGNATURE |= {"gif": Kind.GIF, "pdf": Kind.PDF}
# filetype guesses these from the first bytes of a zip; only the directory can tell.
_ZIP_BASED = {"zip", "docx", "pptx", "xlsx", "epub", "odt", "ods", "odp"}
_EXECUTABLES = {"elf", "exe", "wasm", "crx", "swf"}
_ARCHIVES = {"tar", "gz", "bz2", "xz", "7z", "rar", "zst", "lz4", "lz", "lzo", "Z", "br", "cab"}
_ARCHIVES |= {"ar", "deb", "rpm"}
# Mach-O (32/64-bit, both byte orders) and fat binaries / Java classes: filetype knows none.
_EXECUTABLE_MAGIC = (
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)

# OOXML part names are ASCII case-insensitive (OPC), hence compared lower-cased.
_OOXML_MAIN_PARTS = {
    "word/document.xml": Kind.DOCX,
    "ppt/presentation.xml": Kind.PPTX,
    "xl/workbook.xml": Kind.XLSX,
}

# The HTML patterns of the WHATWG MIME sniffing standard (section 7.1), ended by space or '>'.
_HTML_START = re.compile(
    r"\A\s*<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body"
    r"|br|p|!--)[\s>]",
    re.IGNORECASE,
)
# C0 controls other than tab, line feed, vertical tab, form feed, carriage return and escape
# (ANSI colours in logs): text has none of them, binary has plenty.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Without a BOM, any even run of bytes "decodes" as UTF-16 or UTF-32: binary would pass.
_NEVER_GUESSED = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le", "utf_7"]


def is_zip(head: bytes) -> bool:
    """True when `sniff` needs the member names of the zip's directory to decide."""
    return _signature(head) in _ZIP_BASED


def sniff(head: bytes, *, zip_names: Sequence[str] | None = None) -> Kind:
    """The kind of an upload from its first bytes (and, for a zip, its member names).

    Raises `Refused` with a sentence for the user when the upload is not accepted.
    """
    if not head:
        raise Refused(EMPTY)
    signature = _signature(head)
    if signature in _BY_SIGNATURE:
        return _BY_SIGNATURE[signature]
    if signature in _ZIP_BASED:
        if zip_names is None:
            raise ValueError("a zip: pass the member names of its directory as zip_names")
        return _ooxml_kind(zip_names)
    # Before the other signatures: "BM", "MZ", "ID3" or "%!" also begin ordinary text.
    encoding = text_encoding(head, complete=False)
    if encoding is not None:
        text = codecs.getincrementaldecoder(encoding)("replace").decode(head[:1024])
        return Kind.HTML if _HTML_START.match(text.lstrip("\ufeff")) else Kind.TEXT
    if signature in _EXECUTABLES or head.startswith(_EXECUTABLE_MAGIC):
        raise Refused(EXECUTABLES)
    if signature in _ARCHIVES:
        raise Refused(ARCHIVES)
    raise Refused(UNSUPPORTED)


def text_encoding(data: bytes, *, complete: bool = True) -> str | None:
    """The encoding `data` decodes with as text, or None when it is not text.

    UTF-8 first (with its BOM, "utf-8-sig"), UTF-16 only with a BOM, then charset-normalizer's
    best guess. NUL bytes and other control characters mean binary. `complete=False` allows
    `data` to end in the middle of a character (a head cut from a longer file).
    """
    if data.startswith(_UTF16_BOMS):
        return _decodes(data, "utf-16", complete=complete)
    if b"\x00" in data:
        return None
    utf8 = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    if _decodes(data, utf8, complete=complete) is not None:
        return utf8
    guesses = charset_normalizer.from_bytes(data, cp_exclusion=_NEVER_GUESSED)
    best = guesses.best()
    if best is None:
        return None
    # Western European text often ties between cp1250 and cp1252; the web's legacy default
    # breaks the tie (WHATWG decodes even "latin-1" as windows-1252).
    tied = (guess for guess in guesses if (guess.chaos, guess.coherence) == (best.chaos, best.coherence))
    best = next((guess for guess in tied if guess.encoding == "cp1252"), best)
    return None if _CONTROLS.search(str(best)) else best.encoding


def _decodes(data: bytes, encoding: str, *, complete: bool) -> str | None:
    try:
        text = codecs.getincrementaldecoder(encoding)("strict").decode(data, final=complete)
    except UnicodeDecodeError:
        return None
    return None if _CONTROLS.search(text) else encoding


def _signature(head: bytes) -> str | None:
    guess = filetype.guess(head)
    return None if guess is None else str(guess.extension)


def _ooxml_kind(zip_names: Sequence[str]) -> Kind:
    names = {name.lower() for name in zip_names}
    if any(name.endswith("vbaproject.bin") for name in names):
        raise Refused(MACROS)
    if "[content_types].xml" in names:
        found = [kind for part, kind in _OOXML_MAIN_PARTS.items() if part in names]
        if len(found) == 1:
            return found[0]
        raise Refused(UNSUPPORTED)
    # OpenDocument and EPUB name their type in a "mimetype" member: documents, not archives.
    raise Refused(UNSUPPORTED if "mimetype" in names else ARCHIVES)
