"""Unit tests are pure: no network at all (sockets to anything but loopback fail)."""

from __future__ import annotations

import socket

import pytest

_LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    real_connect = socket.socket.connect

    def guarded_connect(self, address):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(host, str) and (host.startswith(_LOOPBACK) or self.family == socket.AF_UNIX):
            return real_connect(self, address)
        raise OSError(f"unit tests may not use the network (tried {address!r})")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
