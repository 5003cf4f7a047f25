"""Zip bomb limits, on real zips written with the standard library (some patched afterwards,
as an attacker would) and read back through `zipfile.ZipFile(...).infolist()`."""

from __future__ import annotations

import io
import os
import struct
import zipfile

import pytest

from parley_files.domain.errors import Refused
from parley_files.domain.zip_limits import DEFAULT_LIMITS, MiB, ZipLimits, check_ooxml

DOCX_PARTS = {
    "[Content_Types].xml": b"<Types/>",
    "_rels/.rels": b"<Relationships/>",
    "word/document.xml": b"<w:document>" + b"<w:p>Hello</w:p>" * 200 + b"</w:document>",
}
CENTRAL_HEADER = b"PK\x01\x02"


def write(parts: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def infos(data: bytes) -> list[zipfile.ZipInfo]:
    return zipfile.ZipFile(io.BytesIO(data)).infolist()


def patch_central(data: bytes, index: int, offset: int, fmt: str, value: int) -> bytes:
    """Overwrites a field of the `index`-th central directory entry."""
    raw = bytearray(data)
    at = -1
    for _ in range(index + 1):
        at = raw.index(CENTRAL_HEADER, at + 1)
    struct.pack_into(fmt, raw, at + offset, value)
    return bytes(raw)


def reason(data: bytes, limits: ZipLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(Refused) as caught:
        check_ooxml(infos(data), limits)
    return caught.value.reason


def test_an_ordinary_document_passes() -> None:
    check_ooxml(infos(write(DOCX_PARTS)))
    check_ooxml(infos(write(DOCX_PARTS, zipfile.ZIP_STORED)))


def test_a_large_incompressible_member_passes_the_ratio() -> None:
    check_ooxml(infos(write({**DOCX_PARTS, "word/media/photo.jpg": os.urandom(2 * MiB)})))


def test_a_real_zip_bomb_is_refused_from_its_directory_alone() -> None:
    # 300 MB of zeros deflated into about 300 KB, streamed so the zeros never sit in memory whole.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in DOCX_PARTS.items():
            archive.writestr(name, data)
        with archive.open("word/media/zeros.bin", "w", force_zip64=True) as member:
            chunk = bytes(MiB)
            for _ in range(300):
                member.write(chunk)
    assert len(out.getvalue()) < 1 * MiB
    assert reason(out.getvalue()) == "this document is too large once unpacked"


def test_a_member_compressed_too_much_is_refused() -> None:
    bomb = write({**DOCX_PARTS, "word/media/zeros.bin": bytes(2 * MiB)})
    assert reason(bomb) == "this document is compressed too much to be unpacked safely"


def test_small_parts_may_compress_well() -> None:
    check_ooxml(infos(write({**DOCX_PARTS, "word/fontTable.xml": bytes(MiB)})))


def test_too_many_members_are_refused() -> None:
    many = write({**DOCX_PARTS, **{f"customXml/item{i}.xml": b"<x/>" for i in range(2000)}})
    assert reason(many) == "this document has too many parts"


def test_limits_are_configurable() -> None:
    limits = ZipLimits(max_members=10, max_member_bytes=4000, max_total_bytes=9000)
    parts = {**DOCX_PARTS, "word/media/a.bin": os.urandom(3000), "word/media/b.bin": os.urandom(3000)}
    assert reason(write(parts), limits) == "this document is too large once unpacked"
    check_ooxml(infos(write(DOCX_PARTS)), limits)
    assert reason(write({**DOCX_PARTS, "big.bin": os.urandom(5000)}), limits) == (
        "this document is too large once unpacked"
    )


def test_encrypted_members_are_refused() -> None:
    # General purpose flag bit 0 (encrypted), at offset 8 of a central directory entry.
    encrypted = patch_central(write(DOCX_PARTS), 2, 8, "<H", 0x1)
    assert reason(encrypted) == "encrypted documents are not accepted"


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_other_compression_methods_are_refused(method: int) -> None:
    assert reason(write(DOCX_PARTS, method)) == (
        "this document uses a compression method that is not supported"
    )


def test_members_sharing_their_data_are_refused() -> None:
    # The third entry's local header offset (at 42) pointed at the first member's: two names
    # for one compressed stream, the overlapping zip bomb's trick.
    overlapping = patch_central(write(DOCX_PARTS), 2, 42, "<I", 0)
    assert reason(overlapping) == "this document's structure is not valid"


def test_a_member_running_into_the_next_is_refused() -> None:
    data = write(DOCX_PARTS)
    second = infos(data)[1]
    # The second entry claims more compressed bytes than there are before the third member.
    longer = patch_central(data, 1, 20, "<I", second.compress_size + 100)
    assert reason(longer) == "this document's structure is not valid"


def test_duplicate_names_are_refused() -> None:
    # zipfile warns when writing a duplicate name, so the name is changed afterwards (both the
    # local and the central headers hold it).
    data = write({**DOCX_PARTS, "word/documenX.xml": b"<w:document/>"})
    duplicate = data.replace(b"word/documenX.xml", b"word/document.xml")
    assert reason(duplicate) == "this document's structure is not valid"
