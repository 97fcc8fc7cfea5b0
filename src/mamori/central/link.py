"""The NATS connection: mutual TLS with the group's CA, reconnecting for ever."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

from mamori.config.central import CentralSettings
from mamori.errors import MamoriError

__all__ = ["connect", "ssl_context"]

log = logging.getLogger(__name__)


def ssl_context(central: CentralSettings) -> ssl.SSLContext:
    """TLS 1.2+ verifying the server against the group's CA, presenting this box's certificate."""
    tls = central.tls
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(tls.cert), str(tls.key))
    except (OSError, ssl.SSLError) as exc:
        raise MamoriError(
            f"central.tls の証明書を読めません（{exc}） / cannot load central.tls's certificates ({exc})"
        ) from exc
    return context


async def connect(
    central: CentralSettings,
    *,
    name: str,
    inbox_prefix: str = "_INBOX",
    on_error: Callable[[str], None] | None = None,
) -> Any:
    """A connection to the NATS servers that reconnects by itself after a cut. Raises when none answers now."""
    import nats

    async def error_cb(exc: Exception) -> None:
        text = str(exc) or type(exc).__name__
        log.warning("NATS: %s", text)
        if on_error is not None:
            on_error(text)

    return await nats.connect(
        servers=list(central.servers),
        tls=ssl_context(central),
        name=name,
        inbox_prefix=inbox_prefix,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
        error_cb=error_cb,
    )
