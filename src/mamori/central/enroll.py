"""One-time enrolment of a sensor (docs/design.md §10, central: setup).

On the central box ``mamori central enroll-code SITE`` makes a code (16 letters, shown in 4 groups) kept only as
its SHA-256, valid 24 hours and once; it prints it with the CA's fingerprint. ``mamori central enroll-server``
answers over HTTPS with the NATS server's certificate: ``GET /ca`` gives the CA certificate, ``POST /enroll``
takes ``{"code", "csr"}`` and gives back the site's client certificate. On the sensor, ``mamori sensor enroll``
makes its key locally, fetches the CA and compares its fingerprint with the one typed (a wrong server is refused
before the code is sent), then sends the code and a certificate signing request over a connection verified with
that CA and the server's name. The private key never leaves the sensor.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import http.client
import json
import logging
import os
import re
import secrets
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mamori.central.pki import (
    PkiError,
    csr_for,
    fingerprint,
    key_pem,
    load_cert,
    load_key,
    new_key,
    normal_fingerprint,
    sign_csr,
    write_file,
)
from mamori.central.setup import CentralFolder, SetupError, check_site
from mamori.errors import MamoriError
from mamori.escape import one_line

__all__ = [
    "CODE_HOURS",
    "CodeBook",
    "CodeRefused",
    "EnrollError",
    "EnrollServer",
    "Enrolled",
    "Throttle",
    "enroll_sensor",
    "new_code",
    "replace_settings",
    "settings_with_central",
]

log = logging.getLogger(__name__)

CODE_HOURS = 24.0
_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY"  # no B/8, I/1, O/0, S/5, Z/2: letters a person reads and types without doubt
_GROUPS, _GROUP = 4, 4  # 16 letters of 21: 70 bits
_MAX_BODY = 16 * 1024


class EnrollError(MamoriError):
    """Enrolment did not succeed (the reason in Japanese and English)."""


class CodeRefused(EnrollError):
    """A code that is wrong, used or expired."""


def _normal_code(text: str) -> str:
    return "".join(c for c in text.upper() if c.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(_normal_code(code).encode()).hexdigest()


def new_code() -> str:
    letters = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP))
    return "-".join(letters[i : i + _GROUP] for i in range(0, len(letters), _GROUP))


_UNKNOWN = CodeRefused(
    "登録コードが違います（中央サーバーで mamori central enroll-code を実行し、表示されたコードを入力） / "
    "wrong enrolment code (run mamori central enroll-code on the central server and type the code it shows)"
)


class CodeBook:
    """The one-time codes of a central folder (``enroll-codes.json``, mode 0600), each kept as its SHA-256 with
    its site, expiry and use. Every change happens under an exclusive lock on the file's lock, so a code is used
    once even when two requests race."""

    def __init__(self, folder: CentralFolder) -> None:
        self.folder = folder
        self.path = folder.codes

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[dict[str, Any]]]:
        lock = self.path.with_name(self.path.name + ".lock")
        with _owned_append(lock, self.folder) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                entries: list[dict[str, Any]] = json.loads(self.path.read_text()) if self.path.exists() else []
            except (OSError, ValueError) as exc:
                raise EnrollError(f"{self.path}: 読めません（{exc}） / cannot read it ({exc})") from exc
            before = json.dumps(entries)
            yield entries
            if json.dumps(entries) != before:
                text = json.dumps(entries, indent=1) + "\n"
                write_file(self.path, text.encode(), private=True, owner=_folder_owner(self.folder))

    def issue(self, site: str, *, hours: float = CODE_HOURS, now: float | None = None) -> tuple[str, float]:
        """A new code for ``site`` (one of the folder's sites) and its expiry time; old expired codes are dropped."""
        check_site(site)
        if site not in self.folder.load().sites:
            raise SetupError(
                f"拠点 {site} はありません（先に mamori central add-site {site}） / no site {site} "
                f"(run mamori central add-site {site} first)"
            )
        now = time.time() if now is None else now
        code = new_code()
        with self._locked() as entries:
            entries[:] = [e for e in entries if e["expires"] > now - 7 * 86400]  # a week's history of used codes
            entries.append({"hash": _hash(code), "site": site, "created": now, "expires": now + hours * 3600})
        return code, now + hours * 3600

    def check(self, code: str, *, now: float | None = None) -> str:
        """The site of a valid code (not used, not expired); raises :class:`CodeRefused` otherwise."""
        with self._locked() as entries:
            return self._valid(entries, code, time.time() if now is None else now)["site"]  # type: ignore[no-any-return]

    def use(self, code: str, *, by: str, now: float | None = None) -> str:
        """Mark a valid code used (once: a second use is refused) and return its site."""
        now = time.time() if now is None else now
        with self._locked() as entries:
            entry = self._valid(entries, code, now)
            entry["used"] = now
            entry["used_by"] = by
            return entry["site"]  # type: ignore[no-any-return]

    @staticmethod
    def _valid(entries: list[dict[str, Any]], code: str, now: float) -> dict[str, Any]:
        wanted = _hash(code)
        for entry in entries:
            if hmac.compare_digest(entry["hash"], wanted):
                if entry.get("used"):
                    used = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry["used"]))
                    raise CodeRefused(
                        f"この登録コードは使用済みです（{used}）。中央サーバーで新しいコードを作ってください / "
                        f"this enrolment code was used already ({used}); make a new one on the central server"
                    )
                if entry["expires"] <= now:
                    raise CodeRefused(
                        "この登録コードは期限切れです。中央サーバーで新しいコードを作ってください / "
                        "this enrolment code has expired; make a new one on the central server"
                    )
                return entry
        raise _UNKNOWN


def _folder_owner(folder: CentralFolder) -> tuple[int, int] | None:
    """The files' owner chosen at init, when this process may give files away (root)."""
    state = folder.load()
    return (state.owner[0], state.owner[1]) if state.owner and os.geteuid() == 0 else None


@contextlib.contextmanager
def _owned_append(path: Path, folder: CentralFolder) -> Iterator[Any]:
    """``path`` opened for appending, made mode 0600 and given to the folder's owner when new (so the service
    user can still write a file that root made first)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    owner = _folder_owner(folder)
    if owner is not None:
        os.fchown(fd, *owner)
    with os.fdopen(fd, "ab") as handle:
        yield handle


class Throttle:
    """Failed code attempts: at most ``per_client`` per address and ``overall`` in all within ``window`` seconds;
    past that, attempts are refused until the oldest failure leaves the window (a guess costs minutes, so the
    70-bit codes cannot be found by trying)."""

    def __init__(self, *, per_client: int = 5, overall: int = 30, window: float = 900.0) -> None:
        self.per_client, self.overall, self.window = per_client, overall, window
        self._by_client: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def _trim(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window:
            q.popleft()

    def wait_for(self, client: str, now: float | None = None) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            mine = self._by_client.get(client, deque())
            self._trim(mine, now)
            self._trim(self._all, now)
            waits = [0.0]
            if len(mine) >= self.per_client:
                waits.append(mine[0] + self.window - now)
            if len(self._all) >= self.overall:
                waits.append(self._all[0] + self.window - now)
            return max(waits)

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._by_client.setdefault(client, deque()).append(now)
            self._all.append(now)


class EnrollServer(ThreadingHTTPServer):
    """The enrolment endpoint over HTTPS with the NATS server's certificate."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, folder: CentralFolder, address: tuple[str, int], *, throttle: Throttle | None = None) -> None:
        self.folder = folder
        self.book = CodeBook(folder)
        self.throttle = throttle or Throttle()
        self.state = folder.load()
        self.ca_pem = folder.ca_cert.read_bytes()
        self.ca_cert = load_cert(folder.ca_cert)
        self.ca_key = load_key(folder.ca_key)
        self._sign_lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(folder.server_cert), str(folder.server_key))
        except (OSError, ssl.SSLError) as exc:
            raise EnrollError(f"{folder.server_cert}: 読めません（{exc}） / cannot load it ({exc})") from exc
        super().__init__(address, _Handler)
        self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A broken or hostile connection: one line in the log, not a traceback."""
        exc = sys.exc_info()[1]
        log.warning("enrolment connection from %s failed: %s", client_address[0], exc or "?")

    def enroll(self, code: str, csr: bytes, client: str) -> tuple[str, bytes]:
        """Check the code, sign the request, use the code; the site and its certificate (PEM)."""
        site = self.book.check(code)
        cert = sign_csr(self.ca_key, self.ca_cert, csr, site)  # a bad request leaves the code unused
        if self.book.use(code, by=client) != site:  # used meanwhile by another request: use() raised already
            raise _UNKNOWN
        pem = cert.public_bytes(serialization.Encoding.PEM)
        line = json.dumps(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "site": site,
                "client": client,
                "serial": format(cert.serial_number, "x"),
                "not_after": cert.not_valid_after_utc.isoformat(),
            }
        )
        with self._sign_lock, _owned_append(self.folder.issued, self.folder) as out:
            out.write((line + "\n").encode())
        log.warning("enrolled site %s from %s (certificate serial %x)", site, client, cert.serial_number)
        return site, pem


class _Handler(BaseHTTPRequestHandler):
    server: EnrollServer
    timeout = 15
    protocol_version = "HTTP/1.1"
    server_version = "mamori-enroll"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.client_address[0], format % args)

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.close_connection = True  # one request per connection: nothing left unread is taken as a request
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(status, json.dumps({"error": message}, ensure_ascii=False).encode())

    def do_GET(self) -> None:
        if self.path == "/ca":
            self._send(200, self.server.ca_pem, "application/x-pem-file")
        else:
            self._error(404, "ありません / not found")

    def do_POST(self) -> None:
        client = self.client_address[0]
        if self.path != "/enroll":
            self._error(404, "ありません / not found")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= _MAX_BODY:
            self._error(400, "要求が大きすぎるか空です / the request is empty or too large")
            return
        raw = self.rfile.read(length)  # read before any answer: the connection is closed after it in any case
        wait = self.server.throttle.wait_for(client)
        if wait > 0:
            self._error(
                429,
                f"登録コードの誤りが多すぎます。{max(wait / 60, 1):.0f} 分ほど待ってください / too many wrong codes; "
                f"try again in about {max(wait / 60, 1):.0f} minutes",
            )
            return
        try:
            body = json.loads(raw)
            code, csr = str(body["code"]), str(body["csr"]).encode()
        except (ValueError, KeyError, TypeError):
            self._error(400, "要求の形が違います / the request is not of the expected form")
            return
        try:
            site, pem = self.server.enroll(code, csr, client)
        except CodeRefused as exc:
            self.server.throttle.failed(client)
            log.warning("enrolment refused for %s: %s", client, exc)
            self._error(403, str(exc))
            return
        except PkiError as exc:
            self._error(400, str(exc))
            return
        state = self.server.state
        self._send(
            200,
            json.dumps(
                {"site": site, "certificate": pem.decode(), "ca": self.server.ca_pem.decode(), "port": state.nats_port}
            ).encode(),
        )


# -- the sensor's side --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    site: str
    servers: tuple[str, ...]
    ca: Path
    cert: Path
    key: Path


def _request(
    host: str, port: int, context: ssl.SSLContext, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=20)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(_MAX_BODY * 4)
    except ssl.SSLCertVerificationError as exc:
        raise EnrollError(
            f"{host}:{port} の証明書を確かめられません（{exc.verify_message}）。--central には中央サーバーの init "
            f"で指定した名前か IP を使ってください / cannot verify {host}:{port}'s certificate "
            f"({exc.verify_message}); use a name or address given to mamori central init"
        ) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise EnrollError(
            f"{host}:{port} につながりません（{exc or type(exc).__name__}）。enroll-server は動いていますか / "
            f"cannot reach {host}:{port} ({exc or type(exc).__name__}); is mamori central enroll-server running?"
        ) from exc
    finally:
        conn.close()


def _hostname_of(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def enroll_sensor(host: str, port: int, code: str, typed_fingerprint: str, config: Path) -> Enrolled:
    """Enrol this box: fetch and pin the CA, send the code with a request for the key made here, write the key,
    certificate and CA beside ``config`` (``central-client.key`` mode 0600, owned as ``config`` is)."""
    host = _hostname_of(host)
    wanted = normal_fingerprint(typed_fingerprint)
    if not _normal_code(code) or len(_normal_code(code)) != _GROUPS * _GROUP:
        raise CodeRefused(
            "登録コードは 16 文字です（例 ACDE-FGHJ-KLMN-PQRT） / the enrolment code has 16 letters "
            "(e.g. ACDE-FGHJ-KLMN-PQRT)"
        )
    # 1. the CA, over a connection not yet verified: nothing secret is sent on it
    blind = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    blind.check_hostname = False
    blind.verify_mode = ssl.CERT_NONE
    status, ca_pem = _request(host, port, blind, "GET", "/ca")
    try:
        ca = x509.load_pem_x509_certificate(ca_pem) if status == 200 else None
    except ValueError:
        ca = None
    if ca is None:
        raise EnrollError(
            f"{host}:{port} は mamori の登録サーバーではありません / {host}:{port} is not a mamori enrolment server"
        )
    found = fingerprint(ca)
    if normal_fingerprint(found) != wanted:
        raise EnrollError(
            f"認証局のフィンガープリントが違います（入力 {typed_fingerprint}、サーバー {found}）。別のサーバーに"
            "つながっている恐れがあります。コードは送っていません / the CA's fingerprint differs (typed "
            f"{typed_fingerprint}, the server's {found}): this may be another server; the code was not sent"
        )
    # 2. the code and the request, over a connection verified with that CA and the server's name
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem.decode())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    key = new_key()
    body = json.dumps({"code": code, "csr": csr_for(key, "mamori-sensor").decode()}).encode()
    status, answer = _request(host, port, context, "POST", "/enroll", body)
    try:
        reply: dict[str, Any] = json.loads(answer)
    except ValueError:
        reply = {}
    if status != 200:
        message = one_line(reply.get("error") or f"HTTP {status}", 500)  # printed on the terminal: no control codes
        raise (CodeRefused if status in (403, 429) else EnrollError)(message)
    try:
        cert = x509.load_pem_x509_certificate(str(reply["certificate"]).encode())
        site, nats_port = str(reply["site"]), int(reply["port"])
    except (KeyError, ValueError, TypeError) as exc:
        raise EnrollError(
            f"登録サーバーの答えが読めません / cannot read the enrolment server's answer ({exc})"
        ) from exc
    if cert.public_key() != key.public_key() or cert.issuer != ca.subject:
        raise EnrollError("受け取った証明書がこの鍵のものではありません / the certificate is not for this box's key")
    check_site(site)
    folder = config.resolve().parent
    stat = config.stat() if config.exists() else folder.stat()
    owner = (stat.st_uid, stat.st_gid) if os.geteuid() == 0 else None  # root gives the files to the config's owner
    paths = Enrolled(
        site=site,
        servers=(f"tls://{host if ':' not in host else f'[{host}]'}:{nats_port}",),
        ca=folder / "central-ca.crt",
        cert=folder / "central-client.crt",
        key=folder / "central-client.key",
    )
    write_file(paths.key, key_pem(key), private=True, owner=owner)
    write_file(paths.cert, cert.public_bytes(serialization.Encoding.PEM), owner=owner)
    write_file(paths.ca, ca_pem, owner=owner)
    return paths


_HEADER = (
    "# 中央サーバーへの接続（mamori sensor enroll が記入） / the link to the central server (by mamori sensor enroll)\n"
)
_TOP_KEY = re.compile(r"^central\s*:")


def settings_with_central(text: str, enrolled: Enrolled) -> str:
    """``text`` (a settings file) with its top-level ``central:`` section set to the enrolled link: the section's
    other keys are kept, every other line of the file (comments included) is left as it was; without a section,
    one is added at the end."""
    try:
        raw = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise EnrollError(
            f"設定ファイルが YAML として読めません（{exc}） / the settings file is not valid YAML"
        ) from exc
    if raw is not None and not isinstance(raw, dict):
        raise EnrollError("設定ファイルの最上位が項目の並びではありません / the settings file is not a mapping")
    old = (raw or {}).get("central")
    section: dict[str, Any] = dict(old) if isinstance(old, dict) else {}
    section.update(
        site=enrolled.site,
        servers=list(enrolled.servers),
        tls={"ca": str(enrolled.ca), "cert": str(enrolled.cert), "key": str(enrolled.key)},
    )
    block = _HEADER + yaml.safe_dump({"central": section}, allow_unicode=True, sort_keys=False, width=120)
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _TOP_KEY.match(line)), None)
    if start is None:
        body = text if not text or text.endswith("\n") else text + "\n"
        return body + ("\n" if body.strip() else "") + block
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line.startswith((" ", "\t")) or not line.strip():
            end += 1
            continue
        if line.startswith("#"):  # a comment at the margin: inside the section if indented lines follow it
            ahead = end
            while ahead < len(lines) and (lines[ahead].startswith("#") or not lines[ahead].strip()):
                ahead += 1
            if ahead < len(lines) and lines[ahead].startswith((" ", "\t")):
                end = ahead
                continue
        break
    while end > start + 1 and not lines[end - 1].strip():  # the blank lines after the section stay
        end -= 1
    if start > 0 and lines[start - 1] == _HEADER:
        start -= 1
    return "".join(lines[:start]) + block + "".join(lines[end:])


def replace_settings(config: Path, text: str) -> Path | None:
    """Write ``text`` over ``config`` atomically with the file's mode and owner; the former file is kept as
    ``<name>.before-enroll`` (returned), none when there was no file."""
    backup = None
    mode, owner = 0o640, None
    if config.exists():
        stat = config.stat()
        mode, owner = stat.st_mode & 0o777, (stat.st_uid, stat.st_gid)
        backup = config.with_name(config.name + ".before-enroll")
        write_file(backup, config.read_bytes(), private=True, owner=owner if os.geteuid() == 0 else None)
    tmp = config.with_name(f".{config.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        if owner is not None and os.geteuid() == 0:
            os.fchown(fd, *owner)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, config)
    return backup
