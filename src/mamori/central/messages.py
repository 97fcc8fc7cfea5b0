"""The messages between a sensor and the central server: subject ``mamori.<site>.<kind>``, header
``Nats-Msg-Id: <site>:<box>:<sequence>``, and a JSON body ``{"v": 1, "site", "seq", "kind", "data"}``."""

from __future__ import annotations

import re
from typing import Any

import orjson

from mamori.storage.central import CentralMessage
from mamori.storage.outbox import KINDS, OutboxItem

__all__ = ["VERSION", "BadMessage", "decode", "encode", "message_id", "subject"]

VERSION = 1
_SITE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BadMessage(ValueError):
    """A message the central server cannot use (its reason in words; the message is counted and dropped)."""


def subject(site: str, kind: str) -> str:
    return f"mamori.{site}.{kind}"


def message_id(site: str, box: str, seq: int) -> str:
    """The id JetStream's duplicate window recognises a resend by: the site, the sensor database's own id and the
    outbox sequence (two boxes of one site, or a database made anew, count their sequences from 1 each)."""
    return f"{site}:{box}:{seq}"


def encode(site: str, item: OutboxItem) -> bytes:
    return orjson.dumps({"v": VERSION, "site": site, "seq": item.seq, "kind": item.kind, "data": item.data})


def decode(subject_name: str, body: bytes) -> CentralMessage:
    """The message at ``subject_name``; the site is the subject's (the server allowed the sender to publish only
    there), and a body naming another site or kind is refused."""
    parts = subject_name.split(".")
    if len(parts) != 3 or parts[0] != "mamori" or not _SITE.match(parts[1]) or parts[2] not in KINDS:
        raise BadMessage(f"unexpected subject {subject_name!r}")
    try:
        value: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"{subject_name}: not JSON ({exc})") from exc
    if not isinstance(value, dict) or value.get("v") != VERSION:
        raise BadMessage(f"{subject_name}: not a version {VERSION} message")
    site, kind, seq, data = value.get("site"), value.get("kind"), value.get("seq"), value.get("data")
    if site != parts[1] or kind != parts[2]:
        raise BadMessage(f"{subject_name}: the body names site {site!r} and kind {kind!r}")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or not isinstance(data, dict):
        raise BadMessage(f"{subject_name}: no sequence or data")
    return CentralMessage(site=site, seq=seq, kind=kind, data=data)
