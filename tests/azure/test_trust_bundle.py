"""``DISKDR_CA_BUNDLE`` is an *extra* CA: the clients trust it and the public CAs alike."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi

from diskdr.azure.clients import Clients, client_options, trust_bundle
from tests.support import emulator_settings

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"


def subjects(bundle: str) -> set[str]:
    """The common names of the CAs an SSL context built on ``bundle`` trusts."""
    context = ssl.create_default_context(cafile=bundle)
    names = set()
    for cert in context.get_ca_certs():
        for rdn in cert["subject"]:
            names.update(value for key, value in rdn if key == "commonName")
    return names


def test_the_extra_ca_is_added_to_the_public_ones(emulator) -> None:
    settings = emulator_settings(emulator, "diskdr-ca", SUBSCRIPTION)
    bundle = client_options(settings)["connection_verify"]
    assert bundle != emulator.ca_path
    text = Path(bundle).read_text()
    assert Path(emulator.ca_path).read_text().strip() in text  # the emulator's CA ...
    trusted = subjects(bundle)
    assert "ISRG Root X1" in trusted  # ... and a public root (Let's Encrypt's), from certifi
    assert subjects(certifi.where()) <= trusted
    # Written once: the same file every time.
    assert trust_bundle(emulator.ca_path) == bundle
    # The real SDK client reaches the emulator over TLS with it.
    compute = Clients(settings).compute(SUBSCRIPTION)
    emulator.control.reset()
    assert list(compute.disks.list()) == []
