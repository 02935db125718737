"""The XroadVnpt HMAC, checked against the worked examples of VXP_HTTP_API.md."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import AuthenticationError, BadRequestError, authenticate, sdk_hash_file
from gateway.vxp_auth import sign_parameters

SECRET = "demo-secret-01"
BASE = '{"XroadVnpt-systemid":"edx.demo.01","XroadVnpt-timestamp":"29112026T103345+0585",'


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("utf-8")) for k, v in headers.items()]


def _secrets(system_id: str) -> str | None:
    return SECRET if system_id == "edx.demo.01" else None


# (signed header, hash header) pairs copied from the protocol document.
EXAMPLES = [
    (
        BASE + '"XroadVnpt-Content-Type":"application/json"}',
        "5e79ff58085d59d8992ecc39ce7eb17cd197692c2541efad04b6676ec66c3811",
    ),
    (
        '{"XroadVnpt-systemid":"edx.demo.01","XroadVnpt-level":"1","XroadVnpt-timestamp":'
        '"29112026T103345+0585","XroadVnpt-Content-Type":"application/json"}',
        "5cb3184dfe85f57494dc2f792a72267279a3587c7efd44be0c4f86d463c0f6c8",
    ),
    (
        '{"XroadVnpt-systemid":"edx.demo.01","XroadVnpt-docId":"6303b8b7-c7a5-435d-b192-'
        'fd0e38404a41","XroadVnpt-filePath":"xml","XroadVnpt-timestamp":"29112026T103345+0585",'
        '"XroadVnpt-Content-Type":"application/json"}',
        "0db55e36417291cd73c36401ea736fa3e7050d7e39d958008f1da481264f057a",
    ),
    (
        '{"XroadVnpt-systemid":"edx.demo.01","XroadVnpt-servicetype":"eDoc","XroadVnpt-'
        'messagetype":"edoc","XroadVnpt-hash-file":"f1ba32564150cd2c5370622efb3791cc69d43c19f4aa'
        '952567a14e7044dc0","XroadVnpt-from":"000.00.00.H41","XroadVnpt-to":"[\\"000.00.00.G22\\"'
        ',\\"000.00.00.H14\\"]","XroadVnpt-timestamp":"29112026T103345+0585","XroadVnpt-Content-'
        'Type":"application/octet-stream"}',
        "7a6d1b31b8094e51f17f52f531ed860b2c1af3e230fb254dc7fd5d1e686337da",
    ),
]


@pytest.mark.parametrize(("signed", "mac"), EXAMPLES)
def test_the_documents_worked_examples_verify(signed: str, mac: str) -> None:
    import json

    entries = json.loads(signed)
    headers = dict(entries)
    headers["XroadVnpt-sign-header"] = signed
    headers["XroadVnpt-hash-header"] = mac.upper()  # compared case-insensitively
    params = authenticate(_raw(headers), _secrets)
    assert params.system_id == "edx.demo.01"
    assert params.get("TIMESTAMP") == "29112026T103345+0585"


def test_the_signed_text_is_checked_as_received_never_reserialised() -> None:
    spaced = BASE.replace(",", ", ") + '"XroadVnpt-Content-Type":"application/json"}'
    mac = hmac.new(SECRET.encode(), spaced.encode(), hashlib.sha256).hexdigest()
    headers = {
        "XroadVnpt-systemid": "edx.demo.01",
        "XroadVnpt-timestamp": "29112026T103345+0585",
        "XroadVnpt-Content-Type": "application/json",
        "XroadVnpt-sign-header": spaced,
        "XroadVnpt-hash-header": mac,
    }
    assert authenticate(_raw(headers), _secrets).system_id == "edx.demo.01"
    compact = spaced.replace(", ", ",")
    headers["XroadVnpt-sign-header"] = compact  # same JSON, other bytes: another MAC
    with pytest.raises(AuthenticationError, match="does not verify"):
        authenticate(_raw(headers), _secrets)


def test_refusals_name_their_reason() -> None:
    good = sign_parameters("edx.demo.01", SECRET, [("timestamp", "t"), ("docId", "X")])
    with pytest.raises(AuthenticationError, match="does not verify"):
        authenticate(_raw(good), lambda s: "another-secret")
    with pytest.raises(AuthenticationError, match="does not verify"):
        authenticate(_raw(good), lambda s: None)
    missing = {k: v for k, v in good.items() if k != "XroadVnpt-hash-header"}
    with pytest.raises(AuthenticationError, match="no single XroadVnpt signature"):
        authenticate(_raw(missing), _secrets)
    loose = {**good, "XroadVnpt-docId": "Y"}
    with pytest.raises(AuthenticationError, match="differs from its signed value"):
        authenticate(_raw(loose), _secrets)


def test_case_variants_that_disagree_are_ambiguous() -> None:
    headers = sign_parameters("edx.demo.01", SECRET, [("docId", "A"), ("docid", "B")])
    raw = [(b"xroadvnpt-docid", b"A"), (b"xroadvnpt-docid", b"B")] + [
        (k, v) for k, v in _raw(headers) if k != b"xroadvnpt-docid"
    ]
    params = authenticate(raw, _secrets)
    with pytest.raises(BadRequestError, match="ambiguous parameter docId"):
        params.get("docId")


def test_sdk_hash_file_drops_leading_zeros_of_each_byte() -> None:
    # The document's example: standard f1ba3256415 00c d2 0c 53... -> SDK f1ba325641 50 cd 2c 53
    standard = "f1ba325641500cd20c5370622efb3791cc69d43c19f4aa952567a14e7044dc00"
    sdk = "".join(format(int(standard[i : i + 2], 16), "x") for i in range(0, 64, 2))
    assert sdk == "f1ba32564150cd2c5370622efb3791cc69d43c19f4aa952567a14e7044dc0"


@given(st.binary(max_size=200))
def test_sdk_hash_file_is_the_digest_without_leading_zeros(data: bytes) -> None:
    digest = hashlib.sha256(data).digest()
    text = sdk_hash_file(data)
    assert 32 <= len(text) <= 64
    assert text == "".join(f"{b:x}" for b in digest)


_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=12
).filter(lambda n: n.lower() not in {"systemid", "sign-header", "hash-header", "version"})
_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@given(st.dictionaries(_names, _values, max_size=6), st.data())
def test_what_the_sdk_signs_verifies_and_any_change_does_not(
    params: dict[str, str], data: st.DataObject
) -> None:
    lowered: dict[str, str] = {}
    for name, value in params.items():
        lowered.setdefault(name.lower(), value)
    entries = [
        (n, v)
        for n, v in params.items()
        if lowered[n.lower()] == v and n == next(k for k in params if k.lower() == n.lower())
    ]
    headers = sign_parameters("edx.demo.01", SECRET, entries)
    signed = authenticate(_raw(headers), _secrets)
    for name, value in entries:
        assert signed.get(name) == value
    text = headers["XroadVnpt-sign-header"]
    at = data.draw(st.integers(0, len(text) - 1))
    replacement = data.draw(st.sampled_from('az09{}\\":,'))
    if text[at] != replacement:
        tampered = {**headers, "XroadVnpt-sign-header": text[:at] + replacement + text[at + 1 :]}
        with pytest.raises(AuthenticationError):
            authenticate(_raw(tampered), _secrets)
