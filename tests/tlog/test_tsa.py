"""RFC 3161 time-stamps from the dev TSA: OpenSSL accepts them, and our check refuses forgeries."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from bus.tlog import TimestampUnavailableError, TsaServer, fetch_timestamp
from signing import DevPki, DevTsa, TimestampError, timestamp_request, verify_timestamp
from tests.tlog._tools import openssl_ts_verifies


@pytest.fixture(scope="module")
def tsa(dev_pki: DevPki) -> DevTsa:
    return DevTsa.from_pki(dev_pki.directory)


def _anchors(pki: DevPki) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(pki.root_cert_path.read_bytes())]


def test_openssl_and_we_accept_a_dev_tsa_token(
    tsa: DevTsa, dev_pki: DevPki, tmp_path: Path
) -> None:
    data = b"edxbus.test/log\n3\nAAAA\n"
    reply = tsa.respond(timestamp_request(data))
    info = verify_timestamp(reply, data, _anchors(dev_pki))
    assert info.tsa_subject.endswith("CN=edxbus development TSA")
    (tmp_path / "data").write_bytes(data)
    (tmp_path / "reply.tsr").write_bytes(reply)
    assert openssl_ts_verifies(tmp_path / "data", tmp_path / "reply.tsr", dev_pki.root_cert_path)
    (tmp_path / "other").write_bytes(data + b"x")
    assert not openssl_ts_verifies(
        tmp_path / "other", tmp_path / "reply.tsr", dev_pki.root_cert_path
    )


def test_a_token_over_other_data_or_from_another_root_is_refused(
    tsa: DevTsa, dev_pki: DevPki, other_pki: DevPki
) -> None:
    reply = tsa.respond(timestamp_request(b"checkpoint"))
    with pytest.raises(TimestampError, match="other data"):
        verify_timestamp(reply, b"another checkpoint", _anchors(dev_pki))
    with pytest.raises(TimestampError, match="trust anchor"):
        verify_timestamp(reply, b"checkpoint", _anchors(other_pki))


def test_a_bent_signature_is_refused(tsa: DevTsa, dev_pki: DevPki) -> None:
    reply = bytearray(tsa.respond(timestamp_request(b"checkpoint")))
    reply[-3] ^= 0x01  # inside the signature value, the last field of the reply
    with pytest.raises(TimestampError):
        verify_timestamp(bytes(reply), b"checkpoint", _anchors(dev_pki))


def test_garbage_gets_a_rejection_reply_not_a_crash(tsa: DevTsa, dev_pki: DevPki) -> None:
    reply = tsa.respond(b"not a request")
    with pytest.raises(TimestampError, match="refused"):
        verify_timestamp(reply, b"", _anchors(dev_pki))


async def test_the_tsa_answers_over_http(tsa: DevTsa, dev_pki: DevPki) -> None:
    with TsaServer(tsa) as server:
        reply = await fetch_timestamp(server.url, b"checkpoint over http")
    verify_timestamp(reply, b"checkpoint over http", _anchors(dev_pki))
    with pytest.raises(TimestampUnavailableError):
        await fetch_timestamp(server.url, b"the server is gone", wait_seconds=2)
