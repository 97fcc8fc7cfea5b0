"""Settings for many sensors and one central view (docs/design.md §10, central): the PostgreSQL store of the
central server (``storage.postgresql``) and the NATS link (``central``) that sensors publish to and the central
consumer reads from."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from mamori.config.values import Duration, Strict

__all__ = ["SITE_PATTERN", "CentralSettings", "NatsTls", "PostgresSettings"]

# A site name is one token of a NATS subject (mamori.<site>.<kind>): no dots, spaces or wildcards.
SITE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class PostgresSettings(Strict):
    """A PostgreSQL database instead of the SQLite file: the central server's store."""

    host: str = Field("127.0.0.1", min_length=1, description="host name, address, or a Unix socket folder")
    port: int = Field(5432, ge=1, le=65535)
    db: str = Field(min_length=1, description="database name")
    user: str = Field(min_length=1)
    password_file: Path | None = Field(
        None, description="file holding the password (first line); none: peer or certificate authentication"
    )
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"

    def describe(self) -> str:
        """Where the database is, for messages (never the password)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.db}"

    def __str__(self) -> str:
        return self.describe()


class NatsTls(Strict):
    """Mutual TLS to the NATS server: the group's CA, this box's certificate and key."""

    ca: Path = Field(description="the CA certificate that signed the NATS server's certificate")
    cert: Path = Field(description="this box's client certificate (its subject names the site)")
    key: Path = Field(description="this box's private key")


class CentralSettings(Strict):
    """The link between sensors and the central server, through NATS JetStream."""

    site: str | None = Field(
        None, pattern=SITE_PATTERN, description="this sensor's site (letters, digits, - and _): mamori.<site>.*"
    )
    servers: tuple[str, ...] = Field(("tls://127.0.0.1:4222",), min_length=1)
    tls: NatsTls
    stream: str = Field("MAMORI", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    durable: str = Field("mamori-central", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the consumer's name")
    batch: int = Field(256, ge=1, le=10_000, description="messages per central transaction")
    replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="copies of the stream JetStream keeps on as many servers of a cluster (3: one server may be lost);"
        " set by the central consumer, which creates the stream",
    )
    duplicate_window: Duration = Field(
        7200.0, gt=0, description="how long JetStream remembers message ids to drop resends"
    )
    publish_interval: Duration = Field(1.0, gt=0, description="seconds between looks at the sensor's outbox")
    silent_after: Duration = Field(
        600.0, gt=0, description="a site or capture source silent this long raises a sensor-silent alert centrally"
    )
