"""Uploaded images, decoded and re-encoded with Pillow so that nothing but their pixels is kept.

Dropped: EXIF (GPS, camera, dates), XMP, IPTC, comments, PNG text chunks, and the ICC profile
once the pixels are converted to sRGB with it (a profile can name a device or its owner, and
without one browsers assume sRGB, so the colours stay right). Kept: the pixels turned upright
(EXIF orientation applied), the palette and transparency. Animated GIF, PNG and WebP keep
their first frame only: the chat shows a still image, and no frame count needs a bound.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps

from parley_files.domain.errors import Refused
from parley_files.domain.kinds import Kind

TOO_LARGE = "this image has too many pixels"
UNREADABLE = "this image is damaged or not what its content claims"

_FORMATS = {Kind.PNG: "PNG", Kind.JPEG: "JPEG", Kind.WEBP: "WEBP", Kind.GIF: "GIF"}
# JPEG and WebP are re-encoded lossily (a lossless WebP too); 90 keeps the loss invisible.
_SAVE_OPTIONS: dict[Kind, dict[str, object]] = {
    Kind.JPEG: {"quality": 90},
    Kind.WEBP: {"quality": 90},
}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    kind: Kind
    width: int
    height: int


def clean_image(data: bytes, kind: Kind, *, max_pixels: int) -> CleanImage:
    """`data` re-encoded as `kind` with its metadata removed; `Refused` when it has more than
    `max_pixels` pixels or does not decode as `kind`.

    Blocking and CPU-bound (it decodes the whole image): call it in a worker thread.
    """
    if not kind.is_image:
        raise ValueError(f"not an image kind: {kind}")
    upright = _decoded(data, kind, max_pixels=max_pixels)
    clean = _to_srgb(_pixels_only(upright), upright.info.get("icc_profile"))
    options = _SAVE_OPTIONS.get(kind, {})
    if kind in {Kind.PNG, Kind.GIF}:
        options = options | _transparency(upright)
    out = io.BytesIO()
    clean.save(out, _FORMATS[kind], **options)
    return CleanImage(out.getvalue(), kind, clean.width, clean.height)


def _decoded(data: bytes, kind: Kind, *, max_pixels: int) -> Image.Image:
    """The image decoded (its first frame) once its header passed the pixel limit, upright."""
    try:
        # Pillow warns between its MAX_IMAGE_PIXELS and twice that, and raises above. The
        # filter is process-global and racy across threads, so the limit is also checked
        # here, before decoding: the filter only turns a warning into a refusal.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the expected format's decoder may parse the bytes.
            image = Image.open(io.BytesIO(data), formats=[_FORMATS[kind]])
        if image.width * image.height > max_pixels:
            image.close()
            raise Refused(TOO_LARGE)
        with image:
            return ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise Refused(TOO_LARGE) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # What Pillow raises for unidentified, truncated or malformed images.
        raise Refused(UNREADABLE) from error


def _pixels_only(image: Image.Image) -> Image.Image:
    """A new image with the same pixels (and palette) but none of `image`'s info: saving a
    decoded image as it is keeps its EXIF, XMP and comments."""
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    if image.mode in {"P", "PA"} and image.palette is not None:
        mode = image.palette.mode
        palette = image.getpalette(mode)
        if palette is not None:
            clean.putpalette(palette, mode)
    return clean


def _to_srgb(image: Image.Image, icc_profile: object) -> Image.Image:
    if not isinstance(icc_profile, bytes) or image.mode not in {"RGB", "RGBA", "CMYK"}:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=output_mode)
    except (ImageCms.PyCMSError, OSError):
        # A broken profile: the pixels as they are, slightly off in colour at worst.
        return image
    return image if converted is None else converted


def _transparency(image: Image.Image) -> dict[str, object]:
    """The transparent palette index or colour is image data that lives in `info`."""
    value = image.info.get("transparency")
    return {} if value is None else {"transparency": value}
