"""Zip bomb limits for OOXML documents (DOCX, PPTX, XLSX are zips), judged from the central
directory alone: `zipfile.ZipFile(...).infolist()` decompresses nothing.

The sizes checked are the declared ones. That is enough: zipfile never returns more than a
member's declared size (a member that inflates further fails its CRC check instead).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from parley_files.domain.errors import Refused

MiB = 1024 * 1024

_ENCRYPTED = 0x1
_UTF8_NAME = 0x800
_LOCAL_HEADER_BYTES = 30
_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})


@dataclass(frozen=True)
class ZipLimits:
    """Sizes are uncompressed bytes; `max_ratio` (uncompressed over compressed) applies to the
    members above `ratio_from_bytes` only, since small XML parts legitimately compress well."""

    max_members: int = 2000
    max_member_bytes: int = 100 * MiB
    max_total_bytes: int = 200 * MiB
    max_ratio: int = 100
    ratio_from_bytes: int = 1 * MiB


DEFAULT_LIMITS = ZipLimits()


def check_ooxml(infos: Sequence[zipfile.ZipInfo], limits: ZipLimits = DEFAULT_LIMITS) -> None:
    """Raises `Refused` when the directory of an OOXML document describes a zip bomb, an
    encrypted document, or members that overlap or repeat."""
    if len(infos) > limits.max_members:
        raise Refused("this document has too many parts")
    total = 0
    for info in infos:
        if info.flag_bits & _ENCRYPTED:
            raise Refused("encrypted documents are not accepted")
        if info.compress_type not in _METHODS:
            raise Refused("this document uses a compression method that is not supported")
        if info.file_size > limits.max_member_bytes:
            raise Refused("this document is too large once unpacked")
        if info.file_size > limits.ratio_from_bytes and (
            info.file_size > limits.max_ratio * info.compress_size
        ):
            raise Refused("this document is compressed too much to be unpacked safely")
        total += info.file_size
    if total > limits.max_total_bytes:
        raise Refused("this document is too large once unpacked")
    _check_layout(infos)


def _check_layout(infos: Sequence[zipfile.ZipInfo]) -> None:
    """Distinct names, and member data that never overlaps: overlapping members let a few KB
    unpack into gigabytes (Fifield's "better zip bomb"). Python 3.11.7 predates zipfile's own
    check (CVE-2024-0450), hence this one."""
    if len({info.filename for info in infos}) != len(infos):
        raise Refused("this document's structure is not valid")
    by_offset = sorted(infos, key=lambda info: info.header_offset)
    for this, following in pairwise(by_offset):
        # A lower bound of where this member ends: the local header's own extra field is not in
        # the central directory, and any data descriptor comes after the data.
        end = this.header_offset + _LOCAL_HEADER_BYTES + _name_bytes(this) + this.compress_size
        if end > following.header_offset:
            raise Refused("this document's structure is not valid")


def _name_bytes(info: zipfile.ZipInfo) -> int:
    # Names are UTF-8 when flagged, else CP437: one byte a character.
    if info.flag_bits & _UTF8_NAME:
        return len(info.orig_filename.encode("utf-8"))
    return len(info.orig_filename)
