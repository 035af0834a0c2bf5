"""The station's TLS client key and certificate request, made on the Pi.

The private key is generated here and never leaves the machine; central signs the CSR with
the hospital CA during enrolment. `cryptography` is imported only when a certificate is
asked for (`--client-cert`).
"""

from __future__ import annotations

from provisioning.errors import UsageError


def new_key_and_csr(common_name: str) -> tuple[str, str]:
    """A new EC P-256 private key and a CSR for it, both PEM."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise UsageError(
            "--client-cert needs the cryptography package, which is not installed",
            "pip install 'cryptography>=42' (or leave out --client-cert)",
        ) from None
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
