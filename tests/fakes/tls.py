"""A throwaway certificate authority for the HTTPS replicas of PagerDuty and Slack.

The `pagerduty` client refuses any base URL that is not ``https://``, so the replicas
must speak TLS. A fresh CA per test session keeps the trust local: the bridge trusts it
only through ``BRIDGE_CA_BUNDLE`` (a PEM file path), exactly as it would trust a
corporate CA in production, so the TLS code path under test is the real one.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
from pathlib import Path

import trustme

# Both spellings: clients connect to 127.0.0.1, but humans type localhost.
SERVER_NAMES = ("127.0.0.1", "localhost")


class TestCA:
    """A trustme CA whose PEM lives on disk and which signs the replicas' server cert."""

    # Imported into test modules, a class named Test* would otherwise be collected by pytest.
    __test__ = False

    def __init__(self, directory: str | Path | None = None) -> None:
        self._owns_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="fake-ca-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA()
        self._server_cert = self._ca.issue_cert(*SERVER_NAMES)
        #: PEM file with the CA certificate; pass it as BRIDGE_CA_BUNDLE.
        self.ca_bundle = self.directory / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_bundle))

    @property
    def ca_pem(self) -> bytes:
        return self._ca.cert_pem.bytes()

    def server_ssl_context(self) -> ssl.SSLContext:
        """A context for a server presenting a cert valid for 127.0.0.1 and localhost."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_cert.configure_cert(context)
        return context

    def client_ssl_context(self) -> ssl.SSLContext:
        """What a client trusting BRIDGE_CA_BUNDLE builds: verification fully on."""
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def cleanup(self) -> None:
        """Remove the PEM directory if this object created it."""
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
