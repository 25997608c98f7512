"""The upload body built at once (``multipart_body``) is the body aiohttp's writer builds
(``multipart_file``), and its boundary never occurs inside the file."""

from __future__ import annotations

import email.parser
import email.policy
from pathlib import Path

import pytest

from hubsync.emulator import Emulator, Endpoint
from hubsync.hubspot import (
    INLINE_READ_BYTES,
    HubSpotClient,
    multipart_body,
    multipart_file,
    read_upload,
)


class _Sink:
    """Collects what aiohttp's multipart writer writes."""

    def __init__(self) -> None:
        self.data = b""

    async def write(self, chunk: bytes) -> None:
        self.data += bytes(chunk)

    async def write_eof(self) -> None:
        return None


def _boundary(content_type: str) -> str:
    return content_type.split("boundary=", 1)[1]


@pytest.mark.parametrize("name", ["main.css", "café crème.css", 'say "hi".html',
                                  "line\nbreak.js", "no-extension"])
async def test_body_is_aiohttps_body_byte_for_byte(name: str) -> None:
    """For every kind of name (UTF-8, quote, newline, no extension) the prebuilt body is
    aiohttp's writer output with only the boundary differing."""
    content = b"body { color: red }\r\n--not-a-boundary\r\n" * 3
    writer = multipart_file(name, content)
    sink = _Sink()
    await writer.write(sink)  # type: ignore[arg-type]
    content_type, body = multipart_body(name, content)
    ours = body.replace(_boundary(content_type).encode(), b"B")
    theirs = sink.data.replace(writer.boundary.encode(), b"B")
    assert ours == theirs
    assert content_type.startswith("multipart/form-data; boundary=")


def test_boundary_inside_the_content_is_never_used() -> None:
    """A file holding the next boundaries the client would pick still parses back to
    exactly its bytes: the boundary is checked against the content."""
    first_type, _ = multipart_body("a.css", b"x")
    prefix, counter = _boundary(first_type)[:16], int(_boundary(first_type)[16:], 16)
    upcoming = [f"{prefix}{counter + step:016x}" for step in range(1, 40)]
    content = "\n".join(f"--{b}" for b in upcoming).encode()
    content_type, body = multipart_body("a.css", content)
    assert _boundary(content_type) not in upcoming
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = list(message.iter_parts())
    assert len(parts) == 1
    assert parts[0].get_payload(decode=True) == content


async def test_read_upload_small_and_large(tmp_path: Path) -> None:
    """A small file and one over INLINE_READ_BYTES both come back whole; a missing file
    raises FileNotFoundError (the worker's 'gone between hash and read')."""
    small, large = tmp_path / "s.css", tmp_path / "l.css"
    small.write_bytes(b"a" * 10)
    large.write_bytes(bytes(range(256)) * (INLINE_READ_BYTES // 256 + 3))
    assert await read_upload(small) == b"a" * 10
    assert await read_upload(large) == large.read_bytes()
    with pytest.raises(FileNotFoundError):
        await read_upload(tmp_path / "gone.css")


async def test_uploads_store_exact_bytes(emulator: Emulator, tmp_path: Path) -> None:
    """Files small and large, with CRLF and boundary-like lines, are stored byte for byte
    by the emulator over real HTTP."""
    files = {"a.css": b"a{}\r\n--x--\r\n", "big.js": b"//" + b"z" * (INLINE_READ_BYTES + 5)}
    async with HubSpotClient(emulator.url, 111) as client:
        token = (await client.exchange_key(emulator.accounts["sandbox"].key)).token
        for name, data in files.items():
            (tmp_path / name).write_bytes(data)
            await client.upload(token, f"t/{name}", tmp_path / name, publish=True)
    stored = emulator.files(111)
    assert {k: v.content for k, v in stored.items()} == {f"t/{k}": v for k, v in files.items()}
    assert sum(1 for r in emulator.requests if r.endpoint == Endpoint.UPLOAD) == 2
