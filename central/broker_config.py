"""`nfc-hospital central broker-config DIR`: Mosquitto's password file, ACL file and listeners.

Each station logs in with its own user name (its station id) and may publish only under
`ROOT/v1/station/<id>/` (events, status) and read what it needs (its ack, lease and status,
room queues and calls, the directory). Central's own user reads and writes `ROOT/#`.
Anonymous access is off. Mosquitto reloads the password and ACL files on SIGHUP, so a
revocation takes effect with `kill -HUP <mosquitto pid>` (new connections are checked
against the new files).

Password hashes are Mosquitto's `$7$` format (PBKDF2-HMAC-SHA512, 101 iterations, 12-byte
salt, both base64), the same bytes `mosquitto_passwd` writes; central keeps only these
hashes, so the files can be rewritten at any time without knowing a station's password.
"""

from __future__ import annotations

import argparse
import base64
import grp
import hashlib
import hmac
import os
import secrets
import signal
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from central.config import ENV_PREFIX, CentralConfig
from protocol.config import add_config_arguments, config_from_args
from protocol.ids import is_valid_id

PASSWD_FILE = "passwd"  # noqa: S105 (a file name, not a password)
ACL_FILE = "acl"
CONF_FILE = "mosquitto.conf"
CENTRAL_USER = "central"
MOSQUITTO_GROUP = "mosquitto"
_PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes; mosquitto reads the count
_SALT_BYTES = 12


class BrokerConfigError(Exception):
    """The broker config cannot be written as asked (bad user name, unreadable file ...)."""


def mosquitto_hash(password: str, *, salt: bytes | None = None) -> str:
    """The `$7$` hash of `password` as `mosquitto_passwd` writes it."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, _PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${_PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def verify_mosquitto_hash(password: str, hashed: str) -> bool:
    """True when `password` matches a `$7$` hash."""
    try:
        _, kind, iterations, salt, digest = hashed.split("$")
        if kind != "7":
            return False
        want = base64.b64decode(digest)
        got = hashlib.pbkdf2_hmac(
            "sha512", password.encode("utf-8"), base64.b64decode(salt), int(iterations)
        )
    except ValueError:
        return False
    return hmac.compare_digest(want, got)


@dataclass(frozen=True, slots=True)
class BrokerUser:
    """One broker login: a user name and its `$7$` password hash."""

    username: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """Certificates for the TLS listener (PEM files readable by the broker)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    port: int = 8883
    require_certificate: bool = False


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """What `write_broker_config` wrote: the paths, and which of them changed."""

    passwd: Path
    acl: Path
    conf: Path
    changed: tuple[Path, ...]


def render_passwd(users: Iterable[BrokerUser]) -> str:
    """The password file: `user:$7$...` lines sorted by user name."""
    return "".join(
        f"{u.username}:{u.password_hash}\n" for u in sorted(users, key=lambda u: u.username)
    )


def render_acl(stations: Iterable[str], central_user: str, topic_root: str = "nfch") -> str:
    """The ACL file: central reads and writes everything; each station only its own part."""
    p = f"{topic_root}/v1"
    lines = [
        "# Written by `nfc-hospital central broker-config`; rewritten on every enrolment and",
        "# revocation. Edit the station list in central, not this file.",
        "",
        f"user {central_user}",
        f"topic readwrite {topic_root}/#",
    ]
    for sid in sorted(set(stations)):
        lines += [
            "",
            f"user {sid}",
            f"topic write {p}/station/{sid}/events",
            # readwrite: the self-test reads its own retained status back.
            f"topic readwrite {p}/station/{sid}/status",
            f"topic read {p}/station/{sid}/ack",
            f"topic read {p}/station/{sid}/lease",
            f"topic read {p}/station/{sid}/screen",
            f"topic read {p}/room/+/queue",
            f"topic read {p}/room/+/call",
            f"topic read {p}/directory/+",
        ]
    return "\n".join(lines) + "\n"


def render_auth_config(directory: Path) -> str:
    """The broker-wide lines: anonymous off, the password and ACL files, and no Nagle delay."""
    return (
        "per_listener_settings false\n"
        "allow_anonymous false\n"
        f"password_file {directory / PASSWD_FILE}\n"
        f"acl_file {directory / ACL_FILE}\n"
        # Every message here is small and waited for (a check-in's ack, a board's snapshot, a
        # call). With Nagle's algorithm a small write waits for the ACK of the one before,
        # which the other side delays up to 40 ms: event-to-board p99 61 ms instead of 26 ms
        # in bench central-ingest. (Mosquitto 2.0 and later.)
        "set_tcp_nodelay true\n"
    )


def render_conf(
    directory: Path, *, port: int | None = 1883, bind: str | None = None, tls: TlsSettings | None
) -> str:
    """A Mosquitto config snippet (for /etc/mosquitto/conf.d/): listeners and auth."""
    lines = [
        "# Written by `nfc-hospital central broker-config`.",
        render_auth_config(directory).rstrip("\n"),
    ]
    if port is not None:
        lines.append(f"listener {port}" + (f" {bind}" if bind else ""))
    if tls is not None:
        lines += [
            f"listener {tls.port}" + (f" {bind}" if bind else ""),
            f"cafile {tls.ca_file}",
            f"certfile {tls.cert_file}",
            f"keyfile {tls.key_file}",
            "tls_version tlsv1.2",
            f"require_certificate {'true' if tls.require_certificate else 'false'}",
        ]
    return "\n".join(lines) + "\n"


def write_broker_config(
    directory: Path,
    stations: Sequence[BrokerUser],
    central_credentials: BrokerUser,
    tls: TlsSettings | None = None,
    *,
    topic_root: str = "nfch",
    port: int | None = 1883,
    bind: str | None = None,
    conf: bool = True,
) -> BrokerFiles:
    """Write `passwd`, `acl` and (with `conf`) `mosquitto.conf` into `directory`; unchanged
    files are left as they are.

    Files are mode 0640 owned by the `mosquitto` group when it exists and we may chown
    (Mosquitto reads them after dropping privileges), else 0600.
    """
    names = [s.username for s in stations]
    for name in [*names, central_credentials.username]:
        if not is_valid_id(name):
            raise BrokerConfigError(f"broker user name {name!r} is not a valid id")
    if central_credentials.username in names:
        raise BrokerConfigError(
            f"station id {central_credentials.username!r} is central's own broker user"
        )
    if len(set(names)) != len(names):
        raise BrokerConfigError("a station id is listed twice")
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        PASSWD_FILE: render_passwd([central_credentials, *stations]),
        ACL_FILE: render_acl(names, central_credentials.username, topic_root),
    }
    if conf:
        files[CONF_FILE] = render_conf(directory, port=port, bind=bind, tls=tls)
    changed = [
        directory / name for name, text in files.items() if write_private(directory / name, text)
    ]
    return BrokerFiles(
        passwd=directory / PASSWD_FILE,
        acl=directory / ACL_FILE,
        conf=directory / CONF_FILE,
        changed=tuple(changed),
    )


def _mosquitto_gid() -> int | None:
    if os.geteuid() != 0:
        return None
    try:
        return grp.getgrnam(MOSQUITTO_GROUP).gr_gid
    except KeyError:
        return None


def write_private(path: Path, text: str) -> bool:
    """Atomically replace `path` with `text` when it differs; True when it was written."""
    gid = _mosquitto_gid()
    mode = 0o640 if gid is not None else 0o600
    try:
        if path.read_text(encoding="utf-8") == text and (path.stat().st_mode & 0o777) == mode:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    if gid is not None:
        os.chown(tmp, 0, gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def reload_broker(pid_file: Path | None) -> str:
    """SIGHUP the broker named by `pid_file`; else say how to reload it. Returns a line to print."""
    how = "reload Mosquitto so it reads them: sudo systemctl reload mosquitto (or kill -HUP PID)"
    if pid_file is None:
        return how
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as e:
        return f"could not signal the broker from {pid_file} ({e}); {how}"
    return f"sent SIGHUP to Mosquitto (pid {pid}); it has reloaded the files"


# ---------------------------------------------------------------------------------------------
# the hospital's small CA (TLS for the broker, client certificates for stations)
#
# `cryptography` is imported inside these functions: central without TLS never needs it.

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
BROKER_CERT = "broker.pem"
BROKER_KEY = "broker.key"
STATION_CERT_DAYS = 825


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def ensure_ca(
    directory: Path, hosts: Sequence[str], *, name: str = "nfc-hospital CA"
) -> TlsSettings:
    """Create (once) a CA and a broker certificate for `hosts` in `directory`.

    Existing files are kept, so running it again never invalidates certificates already given
    to stations. Keys are 0600 (0640 root:mosquitto for the broker's key when possible).
    """
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    ca_cert_path, ca_key_path = directory / CA_CERT, directory / CA_KEY
    now = datetime.now(UTC)
    pem = serialization.Encoding.PEM
    if not ca_cert_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_new(
            ca_key_path,
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            0o600,
        )
        _write_new(ca_cert_path, cert.public_bytes(pem), 0o644)
    broker_cert_path, broker_key_path = directory / BROKER_CERT, directory / BROKER_KEY
    if not broker_cert_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for h in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                names.append(x509.DNSName(h))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        gid = _mosquitto_gid()
        _write_new(
            broker_key_path,
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            0o640 if gid is not None else 0o600,
        )
        if gid is not None:
            os.chown(broker_key_path, 0, gid)
        _write_new(broker_cert_path, cert.public_bytes(pem), 0o644)
    return TlsSettings(ca_cert_path, broker_cert_path, broker_key_path)


def sign_station_csr(ca_cert_file: Path, ca_key_file: Path, csr_pem: str, station_id: str) -> str:
    """A client certificate for `station_id` from the Pi's CSR (PEM in, PEM out).

    The subject is set here (CN = station id), whatever the CSR asked for; the CSR's own
    signature is checked so a request cannot carry someone else's public key.
    """
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as e:
        raise BrokerConfigError(f"the certificate request is not a PEM CSR: {e}") from None
    if not csr.is_signature_valid:
        raise BrokerConfigError("the certificate request's signature does not verify")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise BrokerConfigError("the certificate request's key must be EC or RSA")
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < 2048:
        raise BrokerConfigError("the certificate request's RSA key is shorter than 2048 bits")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_file.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_file.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, station_id)]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=STATION_CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


# ---------------------------------------------------------------------------------------------
# command line


def central_user_from_file(path: Path, username: str = CENTRAL_USER) -> tuple[BrokerUser, bool]:
    """Central's broker login from a password file (mode 0600), created with a random password
    when missing. Returns the user and whether the file was created."""
    created = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_urlsafe(24) + "\n")
        created = True
    password = path.read_text(encoding="utf-8").strip()
    if len(password) < 12:
        raise BrokerConfigError(f"{path}: central's broker password is shorter than 12 characters")
    # A fixed salt per password keeps the file unchanged on every run (idempotent rewrites);
    # the salt is derived from the password so it is still unique per password.
    salt = hashlib.sha256(b"nfch-broker-salt" + password.encode()).digest()[:_SALT_BYTES]
    return BrokerUser(username, mosquitto_hash(password, salt=salt)), created


def main(argv: list[str], prog: str = "nfc-hospital central broker-config") -> int:
    """Write the broker files for every enrolled, not revoked station of central's database."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Write Mosquitto's password file, ACL file and listener config into DIR "
        "from central's station list. Copy or link DIR/mosquitto.conf into "
        "/etc/mosquitto/conf.d/ once; afterwards every run only needs a reload.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR")
    add_config_arguments(parser, ENV_PREFIX)
    parser.add_argument("--database", metavar="URL", help="central's database (else --config's)")
    parser.add_argument(
        "--central-password-file",
        type=Path,
        required=True,
        metavar="FILE",
        help="central's broker password (created, random, mode 0600 when missing)",
    )
    parser.add_argument("--central-user", default=CENTRAL_USER, help="central's broker user")
    parser.add_argument("--topic-root", help="first topic level (else --config's [mqtt])")
    parser.add_argument("--port", type=int, default=1883, help="plain listener port")
    parser.add_argument("--bind", default=None, help="listen address (default: all)")
    parser.add_argument("--no-plain-listener", action="store_true", help="TLS listener only")
    parser.add_argument("--tls-ca", type=Path, help="CA certificate (PEM): enables TLS")
    parser.add_argument("--tls-cert", type=Path, help="broker certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="broker private key (PEM)")
    parser.add_argument("--tls-port", type=int, default=8883, help="TLS listener port")
    parser.add_argument(
        "--tls-dir",
        type=Path,
        metavar="DIR",
        help="create (once) a hospital CA and a broker certificate in DIR and use them",
    )
    parser.add_argument(
        "--tls-host",
        action="append",
        default=[],
        metavar="HOST",
        help="broker host name or address stations use (repeat; with --tls-dir)",
    )
    parser.add_argument(
        "--require-client-cert", action="store_true", help="refuse TLS clients with no cert"
    )
    parser.add_argument("--pid-file", type=Path, help="Mosquitto's PID file: SIGHUP it after")
    args = parser.parse_args(argv)
    config = config_from_args(CentralConfig, args, ENV_PREFIX, prog)
    tls = None
    if args.tls_dir:
        if not args.tls_host:
            parser.error("--tls-dir needs at least one --tls-host (the name stations connect to)")
        made = ensure_ca(args.tls_dir, args.tls_host)
        tls = TlsSettings(
            made.ca_file, made.cert_file, made.key_file, args.tls_port, args.require_client_cert
        )
    elif args.tls_ca or args.tls_cert or args.tls_key:
        if not (args.tls_ca and args.tls_cert and args.tls_key):
            parser.error("TLS needs --tls-ca, --tls-cert and --tls-key together")
        tls = TlsSettings(
            args.tls_ca, args.tls_cert, args.tls_key, args.tls_port, args.require_client_cert
        )
    from central.enrolment import broker_users  # SQLAlchemy only when the command runs
    from central.store.db import Database

    try:
        central, created = central_user_from_file(args.central_password_file, args.central_user)
        db = Database(args.database or config.database.url)
        try:
            stations = broker_users(db)
        finally:
            db.dispose()
        files = write_broker_config(
            args.dir,
            stations,
            central,
            tls,
            topic_root=args.topic_root or config.mqtt.topic_root,
            port=None if args.no_plain_listener else args.port,
            bind=args.bind,
        )
    except BrokerConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    if created:
        print(f"created central's broker password in {args.central_password_file} (mode 0600)")
    print(f"{len(stations)} station(s) allowed; files in {args.dir}")
    for path in (files.passwd, files.acl, files.conf):
        print(f"  {path}: {'written' if path in files.changed else 'unchanged'}")
    if files.changed:
        print(reload_broker(args.pid_file))
    return 0
