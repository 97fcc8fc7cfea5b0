"""Serving the dashboard: cheroot (pure Python, also on Windows) with HTTPS when a certificate is configured."""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
from typing import Any

from mamori.config.web import WebSettings, parse_listen
from mamori.errors import MamoriError

__all__ = ["free_port_near", "listen_problem", "serve"]

log = logging.getLogger(__name__)


def listen_problem(host: str, port: int) -> str | None:
    """Why the dashboard could not listen on ``host:port`` now, in Japanese and English (None: it can). Tried for
    real, with the address reuse the server itself asks for (a port still in TIME_WAIT is free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                ja, en = "ほかのプログラムが使っています", "another program is listening there"
            elif exc.errno == errno.EADDRNOTAVAIL:
                ja, en = "このアドレスはこの機械にありません", "this machine has no such address"
            elif exc.errno == errno.EACCES:
                ja, en = "1024 未満のポートには root 権限が必要です", "a port below 1024 needs root"
            else:
                ja = en = exc.strerror or str(exc)
            return f"{shown} で待ち受けられません（{ja}） / cannot listen on {shown} ({en})"
    return None


def free_port_near(host: str, port: int, tries: int = 20) -> int | None:
    """The first port after ``port`` that ``host`` can listen on, to suggest instead."""
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        if listen_problem(host, candidate) is None:
            return candidate
    return None


def serve(web: WebSettings, app: Any, *, listen: str, stop: threading.Event | None = None) -> None:
    """Serve ``app`` on ``listen`` (the address Django's host names were derived from), with HTTPS when ``web``
    has a certificate, until SIGINT/SIGTERM (or ``stop`` is set)."""
    from cheroot import wsgi

    host, port = parse_listen(listen)
    problem = listen_problem(host, port)
    if problem is not None:
        raise MamoriError(problem)
    server = wsgi.Server((host, port), app, numthreads=8, server_name="mamori")
    tls = web.tls
    if tls is not None:
        from cheroot.ssl.builtin import BuiltinSSLAdapter

        for path in (tls.cert, tls.key):
            if not path.is_file():
                raise MamoriError(f"web.tls: cannot read {path}")
        server.ssl_adapter = BuiltinSSLAdapter(str(tls.cert), str(tls.key))
    scheme = "https" if tls else "http"
    shown = f"[{host}]" if ":" in host else host
    log.info("dashboard on %s://%s:%d/", scheme, shown, port)
    stop = stop or threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        log.info("stopping the dashboard on %s", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
    try:
        server.prepare()
    except OSError as exc:
        raise MamoriError(f"cannot listen on {shown}:{port}: {exc.strerror or exc}") from exc

    def _watch() -> None:
        stop.wait()
        server.stop()

    watcher = threading.Thread(target=_watch, daemon=True)
    watcher.start()
    server.serve()
