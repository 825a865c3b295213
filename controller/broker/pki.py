"""The station CA and the broker's server certificate (EC P-256, ``cryptography``).

P-256 rather than Ed25519: the devices verify the broker with Mbed TLS, which has no
EdDSA certificates. The CA signs one thing, the broker's certificate; devices and the
controller trust the CA, so a broker on another machine of the network cannot pose as
the station's broker.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_YEARS = 10
SERVER_YEARS = 2
# A station's clock may be set after the certificates were made, or be a little behind.
BACKDATE = datetime.timedelta(days=1)


class PkiError(ValueError):
    """A CA or certificate cannot be made or read; the message says which and why."""


@dataclass(frozen=True)
class StationCA:
    """The station's CA: its private key and self-signed certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, station: str) -> StationCA:
        """A new CA named after ``station``."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Shailoo"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"Shailoo station {station} CA"),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes) -> StationCA:
        """A CA read back from its PEM files; raises ``PkiError`` if they do not fit together."""
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as err:
            raise PkiError(f"unreadable CA key or certificate: {err}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError("the CA key is not an EC key")
        if key.public_key().public_numbers() != cert.public_key().public_numbers():
            raise PkiError("the CA key does not belong to the CA certificate")
        return cls(key, cert)

    def key_pem(self) -> bytes:
        """The private key, PKCS#8 PEM, unencrypted (the file is 0600)."""
        return key_pem(self.key)

    def cert_pem(self) -> bytes:
        """The certificate as PEM."""
        return cert_pem(self.cert)

    def cert_der(self) -> bytes:
        """The certificate as DER: what a device keeps in its configuration."""
        return self.cert.public_bytes(serialization.Encoding.DER)

    def server_certificate(
        self, hosts: list[str]
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A new key and certificate for the broker, valid for ``hosts`` (names or IPs)."""
        if not hosts:
            raise PkiError("the broker certificate needs at least one host name or address")
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                if not _valid_hostname(host):
                    raise PkiError(f"{host!r} is neither an IP address nor a host name") from None
                names.append(x509.DNSName(host))
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=365 * SERVER_YEARS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
            .sign(self.key, hashes.SHA256())
        )
        return key, cert


def _valid_hostname(host: str) -> bool:
    if not 0 < len(host) <= 253:
        return False
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-")
    return all(
        0 < len(label) <= 63 and set(label.lower()) <= allowed and label[0] != "-"
        for label in host.rstrip(".").split(".")
    )


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """A certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)
