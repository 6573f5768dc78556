"""Images from feeds, decoded safely: untrusted bytes → a decoded image, or one refusal line.

A feed's image is a stranger's file, whatever its URL and ``Content-Type``
say.  Pillow can open dozens of formats, some through external programs
(EPS and PostScript through Ghostscript), and decodes whatever size a header
declares.  So ``open_image``:

- opens only JPEG, PNG, WebP and GIF (``formats=``: no other plugin is even
  tried, so nothing ever reaches Ghostscript or another external decoder);
- checks the declared pixel count (at most ``MAX_PIXELS``, 25 megapixels)
  before a single pixel is decoded, so a small file that would inflate to
  gigabytes never does;
- turns Pillow's ``DecompressionBombWarning`` into an error.

Anything refused raises ``ImageRefused`` (a ``ValueError``) with a one-line
reason; the adapters then post without a thumbnail.  ``checked_image`` is the
check alone; ``fit_image`` also scales and re-encodes to what a platform
takes (its ``ImageRules``: Bluesky's 1,000,000-byte blobs, Mastodon's
16 MB uploads).
"""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING

from syndicate.models import ImageRules

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["MAX_PIXELS", "SAFE_FORMATS", "ImageRefused", "checked_image", "fit_image", "open_image"]

SAFE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
MAX_PIXELS = 25_000_000
MIME_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg",  # MPO: a JPEG with extra pictures after it
              "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


class ImageRefused(ValueError):
    """Bytes that are not an image we decode; ``str()`` says why, in one line."""


def open_image(data: bytes, content_type: str = "") -> Image:
    """Decode ``data`` (served as ``content_type``) within the limits above, or raise ``ImageRefused``."""
    from PIL import Image, UnidentifiedImageError

    served = f"served as {content_type or 'no type'}"
    # catch_warnings is process-wide, not per thread; the pixel check below does not rely on it.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(SAFE_FORMATS))  # reads the header only
        except UnidentifiedImageError:
            raise ImageRefused(f"not a JPEG, PNG, WebP or GIF image ({served})") from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise ImageRefused(f"refused as a decompression bomb ({served}): {exc}") from None
        except Exception as exc:  # a broken header: Pillow raises many kinds
            raise ImageRefused(f"unreadable {_what(None, served)}: {_one_line(exc)}") from None
        width, height = image.size
        if width * height > MAX_PIXELS:
            image.close()
            raise ImageRefused(f"{width}×{height} pixels is over the {MAX_PIXELS // 1_000_000} megapixel "
                               f"limit ({image.format}, {served})")
        try:
            image.load()
        except Exception as exc:  # truncated or corrupt data, or a bomb found while decoding
            raise ImageRefused(f"unreadable {_what(image.format, served)}: {_one_line(exc)}") from None
    return image


def checked_image(data: bytes, content_type: str = "") -> tuple[bytes, str]:
    """``data`` unchanged with the MIME type of what it really is, once it has decoded safely."""
    image = open_image(data, content_type)
    mime = MIME_TYPES[image.format or ""]
    image.close()
    return data, mime


def fit_image(data: bytes, content_type: str, rules: ImageRules) -> tuple[bytes, str]:
    """An image as a platform takes it (``rules``): ``(bytes, mime type)``.

    An image in one of ``rules.formats`` that already fits ``max_bytes`` and
    ``max_side`` (``None``: no bound) is returned as it came; anything else is
    scaled to fit ``max_side`` and re-encoded as JPEG, lowering quality and
    then size until it fits.  Raises ``ImageRefused``.
    """
    from PIL import Image

    image = open_image(data, content_type)
    fmt = image.format or ""
    max_bytes, max_side = rules.max_bytes, rules.max_side
    if (fmt in rules.formats and (max_bytes is None or len(data) <= max_bytes)
            and (max_side is None or max(image.size) <= max_side)):
        return data, MIME_TYPES[fmt]
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    elif image.mode != "RGB":
        image = image.convert("RGB")
    if max_side is not None:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    while True:
        for quality in (85, 75, 60, 45):
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True)
            if max_bytes is None or out.tell() <= max_bytes:
                return out.getvalue(), "image/jpeg"
        if min(image.size) <= 16:  # pragma: no cover - a tiny JPEG always fits
            raise ImageRefused(f"cannot fit the image in {max_bytes or 0:,} bytes")
        image = image.resize((max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)))


def _what(fmt: str | None, served: str) -> str:
    return f"{fmt} image ({served})" if fmt else f"image ({served})"


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())[:200]
