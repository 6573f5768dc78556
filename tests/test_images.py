"""Issue 12.2: images from feeds are decoded safely, or not at all.

Only JPEG, PNG, WebP and GIF are opened, the pixel count is checked before a
single pixel is decoded, a decompression-bomb warning is an error, and no
external decoder (Ghostscript, for EPS) is ever run.  A refused image means
"no thumbnail" with one log line; the post still goes out.
"""

from __future__ import annotations

import io
import os
import secrets
import struct
import subprocess
import sys
import warnings
import zlib
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from PIL import Image

from syndicate.images import ImageRefused, checked_image
from syndicate.targets.bluesky import prepare_thumb
from tests.servers.mastodon import MastodonServer

EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 64 48
%%EndComments
newpath 0 0 moveto 64 48 lineto stroke
showpage
%%EOF
"""
MB = 1024 * 1024
TOKEN = "images-token-0123456789"


def encoded(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 120).save(out, fmt)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bilevel_png(width: int, height: int) -> bytes:
    """A 1-bit PNG of ``width``×``height`` white pixels: a few kB that decode to width×height bytes
    (and to three times that once made RGB for a thumbnail)."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter type 0, then the packed pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


# --- what is opened ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"),
                                       ("WEBP", "image/webp"), ("GIF", "image/gif")])
def test_the_four_web_formats_are_opened(fmt, mime):
    data = encoded(fmt)
    assert checked_image(data, "application/octet-stream") == (data, mime)  # the bytes decide, not the header
    thumb, thumb_mime = prepare_thumb(data, "image/whatever")
    assert Image.open(io.BytesIO(thumb)).size == (64, 48)
    assert thumb_mime in ("image/jpeg", "image/png", "image/webp")


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PPM", "TGA"])
def test_other_formats_are_refused(fmt):
    data = encoded(fmt, mode="RGB")
    with pytest.raises(ValueError, match=r"not a JPEG, PNG, WebP or GIF image \(served as image/png\)"):
        prepare_thumb(data, "image/png")
    with pytest.raises(ImageRefused):
        checked_image(data, "image/png")


def test_an_eps_is_refused_without_being_interpreted():
    with pytest.raises(ValueError, match="not a JPEG, PNG, WebP or GIF image"):
        prepare_thumb(EPS, "image/png")


def test_the_pixel_count_is_checked_before_decoding():
    data = bilevel_png(6000, 5000)  # 30 megapixels in 30 kB: over the 25 megapixel limit
    assert len(data) < 100_000
    with pytest.raises(ValueError, match=r"6000×5000 pixels is over the 25 megapixel limit"):
        prepare_thumb(data, "image/png")
    with pytest.raises(ImageRefused, match="megapixel"):
        checked_image(data, "image/png")
    assert prepare_thumb(bilevel_png(5000, 5000), "image/png")[1] == "image/jpeg"  # 25 MP is allowed


def test_a_decompression_bomb_warning_is_an_error_not_a_warning():
    bomb = bilevel_png(13000, 13000)  # 169 MP: Pillow only warns (it errors from 179 MP)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"refused as a decompression bomb \(served as image/png\)"):
            prepare_thumb(bomb, "image/png")
    assert [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)] == []


# --- end to end: the daemon, both targets, a fake Ghostscript ------------------------------------


def _feed_with_image(image_url: str, title: str) -> bytes:
    when = format_datetime(datetime(2025, 3, 1, 8, 0, tzinfo=UTC))
    return (f'<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
            f"<channel><title>Pictures</title><link>https://pictures.example/</link>"
            f"<item><title>{title}</title><link>https://pictures.example/a/</link>"
            f"<guid>https://pictures.example/a/</guid><pubDate>{when}</pubDate>"
            f'<media:content url="{image_url}" medium="image"/>'
            f"<description>An article with a picture.</description></item></channel></rss>").encode()


def _setup(tmp_path: Path, feed_server, pds, masto: MastodonServer, image: bytes, title: str):
    feed_server.set_feed("/picture.png", image, content_type="image/png")
    feed_server.set_feed("/feed", _feed_with_image(feed_server.url("/picture.png"), title))
    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"img{secrets.token_hex(3)}.test", password)
    path = tmp_path / "feeds.yaml"
    path.write_text(f"""
state: {tmp_path / 'state.db'}
feeds:
  - {{name: pictures, url: "{feed_server.url('/feed')}", backfill: 1, settle: 0}}
targets:
  mastodon: {{kind: mastodon, instance: "{masto.url}", thumbnail: true}}
  bluesky: {{kind: bluesky, service: "{pds.url}", handle: {handle}}}
output: {{enabled: false}}
security: {{allow_private_addresses: true, allowed_ports: any}}  # the image is on loopback
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env.update(SYNDICATE_MASTODON_TOKEN=TOKEN, SYNDICATE_BLUESKY_APP_PASSWORD=password,
               PYTHONUNBUFFERED="1")
    return path, env, did


def _posted_without_thumbnails(masto: MastodonServer, pds, did: str, stderr: str, reason: str) -> None:
    assert len(masto.statuses) == 1 and masto.media == []
    [record] = pds.list_records(did)
    assert "thumb" not in record["value"]["embed"]["external"]
    picture = "/picture.png"
    lines = [line for line in stderr.splitlines() if picture in line and "WARNING" in line]
    assert len(lines) == 2, stderr  # one line per target
    assert all(reason in line for line in lines)


@pytest.mark.pds
def test_an_eps_served_as_png_never_reaches_ghostscript(tmp_path, feed_server, pds):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "gs-was-run"
    gs = bin_dir / "gs"
    gs.write_text(f'#!/bin/sh\necho "$@" > "{marker}"\nexit 1\n')
    gs.chmod(0o755)
    with MastodonServer(token=TOKEN) as masto:
        path, env, did = _setup(tmp_path, feed_server, pds, masto, EPS, "An EPS in disguise")
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"  # our gs first: it leaves a mark if run
        done = subprocess.run([sys.executable, "-m", "syndicate", "--config", str(path), "run", "--once"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert not marker.exists(), f"Ghostscript was run: {marker.read_text()}"
        _posted_without_thumbnails(masto, pds, did, done.stderr, "not a JPEG, PNG, WebP or GIF image")


# The daemon in a child of a fresh interpreter, whose RUSAGE_CHILDREN then holds that one process.
PEAK_RSS = """\
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
sys.stderr.write(done.stderr)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # kB on Linux
"""


@pytest.mark.pds
def test_a_13000_px_png_is_refused_in_bounded_memory(tmp_path, feed_server, pds):
    bomb = bilevel_png(13000, 13000)  # 169 MP: 507 MB as RGB
    assert len(bomb) < 5_000_000  # under the image byte cap: only the pixel check stops it
    with MastodonServer(token=TOKEN) as masto:
        path, env, did = _setup(tmp_path, feed_server, pds, masto, bomb, "A very large picture")
        done = subprocess.run([sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "syndicate",
                               "--config", str(path), "run", "--once"],
                              capture_output=True, text=True, env=env, timeout=180)
        code, peak_kb = (int(n) for n in done.stdout.split())
        assert code == 0, done.stderr
        assert peak_kb * 1024 < 200 * MB, f"peak RSS {peak_kb / 1024:.0f} MB"
        _posted_without_thumbnails(masto, pds, did, done.stderr, "refused as a decompression bomb")
