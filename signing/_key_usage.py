"""The key usage extension of the certificates edxbus issues (dev PKI, dev TSA).

``x509.KeyUsage`` takes all nine bits by keyword; the certificates edxbus makes set
at most three. Naming only those keeps each certificate's purpose readable.
"""

from __future__ import annotations

from cryptography import x509

__all__ = ["key_usage"]


def key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """A ``KeyUsage`` with the named bits as given and every other bit off."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )
