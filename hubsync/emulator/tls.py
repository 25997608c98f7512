"""A throwaway certificate authority and server certificate for ``Emulator(tls=True)``.

Made with ``trustme`` (which uses ``cryptography``) at start: a fresh CA per run, a
server certificate for ``127.0.0.1``, ``::1`` and ``localhost`` (the ``hs`` CLI only
speaks https, and node checks the SAN ``IP:127.0.0.1``), and the CA written as PEM so a
client can trust it (``NODE_EXTRA_CA_CERTS`` for node, ``SSL_CERT_FILE`` for Python).
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True, slots=True)
class Tls:
    """A server SSL context and the CA that signed its certificate, on disk in ``folder``."""

    context: ssl.SSLContext
    folder: Path

    @property
    def ca_path(self) -> Path:
        """The CA certificate (PEM) a client must trust."""
        return self.folder / "ca.pem"

    def remove(self) -> None:
        """Delete the CA file and its folder (the private keys were never written)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def make_tls() -> Tls:
    """A new CA and a loopback server certificate; the CA's PEM in a private temp folder."""
    authority = trustme.CA(organization_name="hubsync emulator (throwaway, this run only)")
    server_cert = authority.issue_cert("127.0.0.1", "::1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    folder = Path(tempfile.mkdtemp(prefix="hubsync-emulator-tls-"))
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    return Tls(context, folder)
