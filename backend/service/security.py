"""Who may talk to the backend: loopback only by default; CURVE with an allow-list beyond it.

A backend listening on 127.0.0.1 is reachable only from its own machine. Any other address exposes
GPU time and the data folder to the network, so binding one requires CURVE: the server's key pair
(encryption, and clients can check they reach the right server) and a folder of client public keys
(authentication through ZeroMQ's ZAP handler; any other key is refused during the handshake, and
plain-text clients cannot complete it at all). ``tpc-backend keys`` makes the key pairs.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from tpc_protocol.errors import ErrorCode

from ..errors import UserError


@dataclass(frozen=True)
class CurveKeys:
    public: bytes
    secret: bytes
    allowed: Path  # folder of allowed client public keys (*.key)


def is_local(endpoint: str) -> bool:
    """True for loopback TCP, IPC and inproc endpoints: reachable from this machine only."""
    transport, _, address = endpoint.partition("://")
    if transport in ("ipc", "inproc"):
        return True
    if transport != "tcp":
        return False
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # '*', an interface name or a host name: reachable from elsewhere
        return False


def load_curve(secret_key: str | os.PathLike | None, allow: str | os.PathLike | None, endpoint: str) -> CurveKeys | None:
    """The CURVE settings for ``serve``, or None for a plain local backend; refuses unsafe setups."""
    if secret_key is None and allow is None:
        if not is_local(endpoint):
            raise UserError(
                f"listening on {endpoint} would let anyone on the network use this backend; pass --secret-key "
                "SERVER.key_secret and --allow CLIENT_KEYS_DIR (make keys with `tpc-backend keys`), or bind tcp://127.0.0.1",
                ErrorCode.INSECURE_BIND,
            )
        return None
    if secret_key is None or allow is None:
        raise UserError("CURVE needs both --secret-key (the server's .key_secret file) and --allow (a folder of client .key files)")
    public, secret = _load_keypair(Path(secret_key))
    allowed = Path(allow)
    if not allowed.is_dir():
        raise UserError(f"--allow {allowed} is not a folder; pass the folder that holds the allowed clients' .key files")
    if not any(allowed.glob("*.key")):
        raise UserError(f"the allow-list folder {allowed} holds no client public keys (*.key); copy them there from `tpc-backend keys`")
    return CurveKeys(public, secret, allowed)


def load_client_keys(server_key: str, client_key: str | os.PathLike) -> tuple[str, tuple[str, str]]:
    """``tpc submit``'s CURVE arguments: the server's public key (a .key file or its Z85 text) and
    this client's .key_secret file, as JobClient takes them."""
    path = Path(server_key)
    if path.is_file():
        server_public, _ = _load_certificate(path)
    elif len(server_key) == 40:
        server_public = server_key.encode()
    else:
        raise UserError(f"--server-key {server_key} is neither a .key file nor a 40-character Z85 key")
    public, secret = _load_keypair(Path(client_key))
    return server_public.decode(), (public.decode(), secret.decode())


def start_authenticator(context: zmq.Context, keys: CurveKeys) -> ThreadAuthenticator:
    """ZAP handler that lets in only the allow-listed client keys (it runs on its own thread)."""
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(keys.allowed))
    return authenticator


def make_server_socket_secure(socket: zmq.Socket, keys: CurveKeys) -> None:
    socket.curve_server = True
    socket.curve_publickey = keys.public
    socket.curve_secretkey = keys.secret


def create_keypair(folder: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """Write NAME.key (public, to share) and NAME.key_secret (private, mode 600) into ``folder``."""
    folder = Path(folder)
    if not name or not all(c.isalnum() or c in "_.-" for c in name) or name.startswith("."):
        raise UserError(f"key name {name!r} must be letters, digits, '_', '.' or '-'")
    public, secret = folder / f"{name}.key", folder / f"{name}.key_secret"
    for path in (public, secret):
        if path.exists():
            raise UserError(f"{path} already exists; choose another --name or remove the old keys first")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        previous = os.umask(0o077)
        try:
            zmq.auth.create_certificates(folder, name)
        finally:
            os.umask(previous)
        public.chmod(0o644)
    except OSError as error:
        raise UserError(f"cannot write keys into {folder} ({error.strerror})", ErrorCode.IO_ERROR) from None
    return public, secret


def _load_keypair(path: Path) -> tuple[bytes, bytes]:
    public, secret = _load_certificate(path)
    if secret is None:
        raise UserError(f"{path} holds only a public key; pass the .key_secret file made by `tpc-backend keys`")
    return public, secret


def _load_certificate(path: Path) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise UserError(f"key file {path} does not exist", ErrorCode.NOT_FOUND)
    try:
        return zmq.auth.load_certificate(path)
    except (OSError, ValueError) as error:
        raise UserError(f"{path} is not a ZeroMQ key file ({error})") from None
