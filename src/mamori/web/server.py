"""Serving the dashboard: cheroot (pure Python, also on Windows) with HTTPS when a certificate is configured."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from mamori.config import Settings
from mamori.config.web import parse_listen
from mamori.errors import MamoriError

__all__ = ["serve"]

log = logging.getLogger(__name__)


def serve(settings: Settings, app: Any, *, listen: str | None = None, stop: threading.Event | None = None) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (or ``stop`` is set)."""
    from cheroot import wsgi

    host, port = parse_listen(listen or settings.web.listen)
    server = wsgi.Server((host, port), app, numthreads=8, server_name="mamori")
    tls = settings.web.tls
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
