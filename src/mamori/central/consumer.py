"""The central server's side: a durable JetStream pull consumer that applies each batch in one transaction and
acknowledges it only after the commit (docs/design.md §10, central)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mamori.central.link import connect
from mamori.central.messages import BadMessage, decode
from mamori.config.central import CentralSettings
from mamori.errors import MamoriError, StorageError
from mamori.storage.central import Applied, CentralMessage, CentralTable

__all__ = ["SUBJECTS", "CentralConsumer", "ConsumerStats"]

log = logging.getLogger(__name__)

SUBJECTS = "mamori.*.*"
_KEEP_DAYS = 14  # the stream keeps messages this long (a consumer down for days catches up)


@dataclass
class ConsumerStats:
    messages: int = 0
    batches: int = 0  # transactions committed
    alerts: int = 0
    new_alerts: int = 0
    rejected: int = 0  # messages whose content could not be used (reported in the log, acknowledged)
    commit_seconds: float = 0.0  # time spent in the transactions
    silence_raised: int = 0  # sensor-silent alerts raised (one per silent site or capture source)
    silence_resolved: int = 0
    last_error: str = ""
    problems: list[str] = field(default_factory=list)  # the newest reasons for rejected messages (at most 100)


class CentralConsumer:
    def __init__(self, central: CentralSettings, table: CentralTable) -> None:
        self.central = central
        self.table = table
        self.stats = ConsumerStats()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mamori-central-db")

    def _error(self, text: str) -> None:
        self.stats.last_error = text

    async def ensure_stream(self, js: Any) -> None:
        """The stream holding every site's messages: file storage, the duplicate window and the number of replicas
        of the settings (an existing stream is updated to them: JetStream moves it to more or fewer servers)."""
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig
        from nats.js.errors import APIError, NotFoundError

        config = StreamConfig(
            name=self.central.stream,
            subjects=[SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=_KEEP_DAYS * 86400.0,
            duplicate_window=self.central.duplicate_window,
            num_replicas=self.central.replicas,
        )
        try:
            try:
                await js.stream_info(self.central.stream)
            except NotFoundError:
                await js.add_stream(config)
            else:
                await js.update_stream(config)
        except APIError as exc:
            # a lone server (no waiting makes it a cluster): a setting to change, said once
            if exc.err_code == 10074 or "non-clustered" in (exc.description or ""):
                raise MamoriError(
                    f"central.replicas が {self.central.replicas} ですが、NATS サーバーがクラスタではありません"
                    f"（{exc.description}）。1 にするか、クラスタにつないでください / central.replicas is "
                    f"{self.central.replicas} but the NATS server is not a cluster ({exc.description}): set it to 1 "
                    "or connect to a cluster"
                ) from exc
            raise  # e.g. too few servers up yet: the caller connects again and retries

    async def run(self, stop: asyncio.Event, *, idle_exit: float | None = None) -> ConsumerStats:
        """Consume until stopped (or, with ``idle_exit``, until no message came for that many seconds)."""
        backoff = 0.5
        try:
            while not stop.is_set():
                try:
                    nc = await connect(self.central, name="mamori-central", on_error=self._error)
                except MamoriError:
                    raise
                except Exception as exc:  # no server answers now: try again
                    self._error(f"cannot reach the NATS servers: {exc or type(exc).__name__}")
                    await _sleep(stop, backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                backoff = 0.5
                try:
                    if await self._loop(nc, stop, idle_exit):
                        break
                except Exception as exc:  # the link broke under a JetStream call: connect again
                    if isinstance(exc, MamoriError):
                        raise
                    self._error(f"{type(exc).__name__}: {exc}")
                    log.warning("central consumer: %s (reconnecting)", self.stats.last_error)
                    await _sleep(stop, 1.0)
                finally:
                    await nc.close()
        finally:
            self._db.shutdown(wait=True)
        return self.stats

    async def _loop(self, nc: Any, stop: asyncio.Event, idle_exit: float | None) -> bool:
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        js = nc.jetstream(timeout=10)
        await self.ensure_stream(js)
        config = ConsumerConfig(
            durable_name=self.central.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=60.0,
            max_ack_pending=self.central.batch * 4,
        )
        psub = await js.pull_subscribe(
            SUBJECTS, durable=self.central.durable, stream=self.central.stream, config=config
        )
        last_message = time.monotonic()
        next_check = 0.0
        caught_up = False  # silence is judged only once the backlog is applied (else all sites look silent)
        while not stop.is_set():
            if caught_up and time.monotonic() >= next_check:
                await self._check_silence()
                next_check = time.monotonic() + min(max(self.central.silent_after / 4, 1.0), 60.0)
            try:
                msgs = await psub.fetch(self.central.batch, timeout=1.0)
            except (TimeoutError, NatsTimeout):
                caught_up = True
                if idle_exit is not None and time.monotonic() - last_message > idle_exit:
                    return True
                continue
            last_message = time.monotonic()
            caught_up = len(msgs) < self.central.batch
            await self._handle(msgs, nc)
        return False

    async def _check_silence(self) -> None:
        """Raise, update or resolve the sensor-silent alerts (docs/design.md §10, central: silent sensors)."""
        try:
            done = await asyncio.get_running_loop().run_in_executor(
                self._db, self.table.check_silence, self.central.silent_after
            )
        except StorageError as exc:
            self._error(str(exc))
            log.error("%s (checked again later)", exc)
            return
        self.stats.silence_raised += len(done.raised)
        self.stats.silence_resolved += len(done.resolved)
        for key in done.raised:
            log.warning("central: %s is silent (no message for %.0f s)", key, self.central.silent_after)

    async def _handle(self, msgs: list[Any], nc: Any) -> None:
        good: list[CentralMessage] = []
        rejected: list[str] = []
        for m in msgs:
            try:
                good.append(decode(m.subject, m.data))
            except BadMessage as exc:
                rejected.append(str(exc))
        started = time.perf_counter()
        try:
            applied: Applied = await asyncio.get_running_loop().run_in_executor(self._db, self.table.apply, good)
        except StorageError as exc:
            # not committed: nothing is acknowledged; JetStream delivers the batch again
            self._error(str(exc))
            log.error("%s (the batch will be delivered again)", exc)
            for m in msgs:
                await m.nak(delay=5)
            await asyncio.sleep(1.0)
            return
        self.stats.commit_seconds += time.perf_counter() - started
        for m in msgs:  # committed: now, and only now, acknowledged
            await m.ack()
        await nc.flush()
        rejected.extend(applied.rejected)
        for reason in rejected:
            log.warning("central: message not used: %s", reason)
        self.stats.problems = (self.stats.problems + rejected)[-100:]
        self.stats.rejected += len(rejected)
        self.stats.messages += len(msgs)
        self.stats.batches += 1
        self.stats.alerts += applied.alerts
        self.stats.new_alerts += applied.new_alerts


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
