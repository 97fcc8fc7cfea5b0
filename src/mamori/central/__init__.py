"""Many sensors, one view (docs/design.md §10, central): sensors publish their outbox to NATS JetStream (one subject
per site and kind, a message id per outbox sequence); the central consumer applies batches to PostgreSQL and
acknowledges them after the commit."""

from mamori.central.consumer import CentralConsumer, ConsumerStats
from mamori.central.link import connect, ssl_context
from mamori.central.messages import decode, encode, message_id, subject
from mamori.central.publisher import Publisher, PublisherStats

__all__ = [
    "CentralConsumer",
    "ConsumerStats",
    "Publisher",
    "PublisherStats",
    "connect",
    "decode",
    "encode",
    "message_id",
    "ssl_context",
    "subject",
]
