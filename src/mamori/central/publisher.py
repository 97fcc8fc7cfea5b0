"""The sensor's side: publish the outbox to JetStream, forget what JetStream acknowledged (docs/design.md §10).

Each outbox entry becomes one message on ``mamori.<site>.<kind>`` with ``Nats-Msg-Id: <site>:<box>:<seq>``
(``box``: the sensor database's own id). An entry is deleted only after its PubAck; after a cut, a crash or a
restart of either side the entries left are published again with the same ids, and JetStream's duplicate window
drops the copies it already has. The central writes are idempotent besides, so a resend older than the window is
applied again without counting anything twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mamori.central.link import connect
from mamori.central.messages import encode, message_id, subject
from mamori.config.central import CentralSettings
from mamori.errors import MamoriError, StorageError
from mamori.storage.outbox import Outbox, OutboxItem

__all__ = ["Publisher", "PublisherStats"]

log = logging.getLogger(__name__)


@dataclass
class PublisherStats:
    published: int = 0  # acknowledged by JetStream
    duplicates: int = 0  # acknowledged as already stored (a resend the duplicate window dropped)
    failed: int = 0  # publish attempts without an acknowledgement (retried)
    batches: int = 0
    last_error: str = ""


class Publisher:
    """Publishes ``outbox`` for ``site`` until stopped (or, with ``until_empty``, until nothing is pending)."""

    def __init__(
        self, central: CentralSettings, outbox: Outbox, *, site: str, batch: int = 256, ack_timeout: float = 5.0
    ) -> None:
        self.central = central
        self.outbox = outbox
        self.site = site
        self.batch = batch
        self.ack_timeout = ack_timeout
        self.stats = PublisherStats()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mamori-outbox")
        status = outbox.status()
        if status is None or not status.box:
            raise MamoriError("the outbox is not enabled: Outbox.enable(site) comes first")
        self.box = status.box

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    def _error(self, text: str) -> None:
        """Keep the newest problem, and record it in the outbox's state (on the store's thread)."""
        self.stats.last_error = text
        log.warning("publisher: %s", text)
        asyncio.get_running_loop().run_in_executor(self._db, self._record_error, text)

    def _record_error(self, text: str) -> None:
        try:
            self.outbox.record_error(text)
        except StorageError as exc:
            log.error("%s", exc)

    async def run(self, stop: asyncio.Event, *, until_empty: bool = False) -> PublisherStats:
        backoff = 0.5
        try:
            while not stop.is_set():
                try:
                    nc = await connect(
                        self.central,
                        name=f"mamori-sensor-{self.site}",
                        inbox_prefix=f"_INBOX_{self.site}",
                        on_error=self._error,
                    )
                except MamoriError:
                    raise
                except Exception as exc:  # no server answers now: try again (nats raises several kinds)
                    self._error(f"cannot reach the NATS servers: {exc or type(exc).__name__}")
                    await _sleep(stop, backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                backoff = 0.5
                try:
                    if await self._loop(nc, stop, until_empty=until_empty):
                        break
                finally:
                    await nc.close()
        finally:
            self._db.shutdown(wait=True)
        return self.stats

    async def _loop(self, nc: Any, stop: asyncio.Event, *, until_empty: bool) -> bool:
        """Publish until stopped; True when done (``until_empty`` and nothing pending)."""
        js = nc.jetstream(timeout=self.ack_timeout)
        failures = 0
        while not stop.is_set():
            items: list[OutboxItem] = await self._call(self.outbox.pending, self.batch)
            if not items:
                if until_empty:
                    return True
                await _sleep(stop, self.central.publish_interval)
                continue
            results = await asyncio.gather(*(self._publish(js, i) for i in items), return_exceptions=True)
            acked = [i.seq for i, r in zip(items, results, strict=True) if not isinstance(r, BaseException)]
            self.stats.duplicates += sum(1 for r in results if r is True)
            await self._call(self.outbox.acknowledge, acked)
            self.stats.published += len(acked)
            self.stats.batches += 1
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                self.stats.failed += len(errors)
                self._error(f"{len(errors)} of {len(items)} messages not acknowledged: {errors[0]!r}")
                failures += 1
                if not nc.is_connected and failures > 3:
                    return False  # reconnect from scratch
                await _sleep(stop, min(0.5 * 2**failures, 10.0))
            else:
                failures = 0
        return False

    async def _publish(self, js: Any, item: OutboxItem) -> bool:
        ack = await js.publish(
            subject(self.site, item.kind),
            encode(self.site, item),
            headers={"Nats-Msg-Id": message_id(self.site, self.box, item.seq)},
        )
        return bool(ack.duplicate)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    start = time.monotonic()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds - (time.monotonic() - start)))
