"""Cleaning images made here with Pillow, loaded with metadata a photo would carry."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps, PngImagePlugin

from parley_files.adapters.images import TOO_LARGE, UNREADABLE, CleanImage, clean_image
from parley_files.domain.errors import Refused
from parley_files.domain.kinds import Kind

MAX_PIXELS = 50_000_000
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret>home-address</secret></x:xmpmeta>'
RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)


def two_colours(size: tuple[int, int] = (80, 40)) -> Image.Image:
    """Red on the left half, blue on the right: turning it shows."""
    image = Image.new("RGB", size, RED)
    image.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    return image


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    exif[ExifTags.Base.Orientation] = 6  # shown turned 90 degrees clockwise
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (52.0, 31.0, 12.0),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: (13.0, 24.0, 36.0),
        }
    )
    return exif


def saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def opened(clean: CleanImage) -> Image.Image:
    image = Image.open(io.BytesIO(clean.data))
    image.load()
    return image


def close_to(actual: object, expected: object, tolerance: int = 12) -> bool:
    assert isinstance(actual, tuple)
    assert isinstance(expected, tuple)
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_a_photo_loses_gps_comment_and_xmp_and_is_turned_upright() -> None:
    photo = saved(two_colours(), "JPEG", exif=gps_exif(), xmp=XMP, comment=b"owner: alice")
    assert b"home-address" in photo
    assert b"SpyCam" in photo
    assert b"alice" in photo

    clean = clean_image(photo, Kind.JPEG, max_pixels=MAX_PIXELS)

    for secret in (b"home-address", b"SpyCam", b"alice", b"Exif", b"http://ns.adobe.com/xap"):
        assert secret not in clean.data
    result = opened(clean)
    assert result.format == "JPEG"
    assert not result.getexif()
    assert "comment" not in result.info
    assert "xmp" not in result.info
    # Orientation 6 turns the 80x40 picture clockwise: red (left) ends on top.
    assert (clean.width, clean.height) == result.size == (40, 80)
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(photo)))
    for point in [(20, 5), (20, 75), (5, 20), (35, 60)]:
        assert close_to(result.getpixel(point), upright.getpixel(point))
    assert close_to(result.getpixel((20, 5)), RED)
    assert close_to(result.getpixel((20, 75)), BLUE)


def test_a_png_loses_its_text_chunks_and_keeps_its_pixels() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "alice-the-author")
    info.add_text("Comment", "compressed-secret", zip=True)
    info.add_itxt("Location", "international-secret")
    source = two_colours().convert("RGBA")
    png = saved(source, "PNG", pnginfo=info, exif=gps_exif())

    clean = clean_image(png, Kind.PNG, max_pixels=MAX_PIXELS)

    result = opened(clean)
    assert result.format == "PNG"
    assert not result.text  # type: ignore[attr-defined]
    assert b"alice-the-author" not in clean.data
    assert b"international-secret" not in clean.data
    assert not result.getexif()
    assert result.tobytes() == ImageOps.exif_transpose(source.copy()).rotate(-90, expand=True).tobytes()


def test_a_palette_png_keeps_its_palette_and_transparency() -> None:
    source = Image.new("P", (12, 6), 0)
    source.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0, 0, 0] * 253)
    source.paste(1, (4, 0, 8, 6))
    source.paste(2, (8, 0, 12, 6))
    png = saved(source, "PNG", transparency=0)

    clean = clean_image(png, Kind.PNG, max_pixels=MAX_PIXELS)

    result = opened(clean)
    assert result.mode == "P"
    assert result.info.get("transparency") == 0
    assert result.tobytes() == source.tobytes()
    original = Image.open(io.BytesIO(png)).convert("RGBA")
    assert result.convert("RGBA").tobytes() == original.tobytes()
    assert result.convert("RGBA").getpixel((0, 0)) == (255, 0, 0, 0)
    assert result.convert("RGBA").getpixel((5, 3)) == (0, 255, 0, 255)


def test_an_animated_gif_keeps_its_first_frame_only() -> None:
    frames = [Image.new("RGB", (10, 10), colour).convert("P") for colour in (RED, GREEN, BLUE)]
    gif = saved(
        frames[0],
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=100,
        loop=0,
        comment=b"made-by-alice",
    )
    assert Image.open(io.BytesIO(gif)).n_frames == 3  # type: ignore[attr-defined]

    clean = clean_image(gif, Kind.GIF, max_pixels=MAX_PIXELS)

    result = opened(clean)
    assert result.format == "GIF"
    assert result.n_frames == 1  # type: ignore[attr-defined]
    assert b"made-by-alice" not in clean.data
    assert result.convert("RGB").getpixel((5, 5)) == frames[0].convert("RGB").getpixel((5, 5))


def test_a_webp_loses_its_exif_and_xmp() -> None:
    webp = saved(two_colours(), "WEBP", exif=gps_exif(), xmp=XMP, quality=95)
    assert b"home-address" in webp

    clean = clean_image(webp, Kind.WEBP, max_pixels=MAX_PIXELS)

    assert b"home-address" not in clean.data
    assert b"SpyCam" not in clean.data
    result = opened(clean)
    assert result.format == "WEBP"
    assert not result.getexif()
    assert (clean.width, clean.height) == (40, 80)
    assert close_to(result.getpixel((20, 5)), RED)


def test_the_icc_profile_is_applied_then_dropped() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = saved(two_colours(), "JPEG", icc_profile=srgb, quality=95)

    clean = clean_image(photo, Kind.JPEG, max_pixels=MAX_PIXELS)

    result = opened(clean)
    assert "icc_profile" not in result.info
    assert close_to(result.getpixel((10, 10)), RED)
    assert close_to(result.getpixel((70, 10)), BLUE)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header announcing `width` x `height` pixels, with next to no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height"),
    [(100_000, 100_000), (10_000, 10_000), (8_000, 7_000)],
    ids=["over-pillow-error", "over-pillow-warning", "over-our-limit"],
)
def test_decompression_bombs_are_refused_before_decoding(width: int, height: int) -> None:
    bomb = png_claiming(width, height)
    assert len(bomb) < 100
    with pytest.raises(Refused) as caught:
        clean_image(bomb, Kind.PNG, max_pixels=MAX_PIXELS)
    assert caught.value.reason == TOO_LARGE


def test_the_pixel_limit_is_the_callers() -> None:
    png = saved(Image.new("RGB", (100, 100)), "PNG")
    assert clean_image(png, Kind.PNG, max_pixels=10_000).width == 100
    with pytest.raises(Refused, match="too many pixels"):
        clean_image(png, Kind.PNG, max_pixels=9_999)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (saved(Image.new("RGB", (8, 8)), "JPEG"), Kind.PNG),
        (saved(two_colours(), "PNG")[:80], Kind.PNG),
        (b"not an image at all", Kind.GIF),
    ],
    ids=["jpeg-as-png", "truncated-png", "text-as-gif"],
)
def test_bytes_that_do_not_decode_as_the_kind_are_refused(data: bytes, kind: Kind) -> None:
    with pytest.raises(Refused) as caught:
        clean_image(data, kind, max_pixels=MAX_PIXELS)
    assert caught.value.reason == UNREADABLE


def test_only_images_are_cleaned() -> None:
    with pytest.raises(ValueError, match="not an image"):
        clean_image(b"%PDF-1.4", Kind.PDF, max_pixels=MAX_PIXELS)
