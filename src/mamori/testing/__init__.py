"""Fakes and builders for tests, benchmarks and the demo: a fake clock, a known-paths memory, a memory alert store,
a fake live packet source and interfaces, a recording action type (docs/design.md §8), a pcap builder."""

from mamori.testing.capture import FakeInterfaces, FakeLiveSource
from mamori.testing.clock import FakeClock
from mamori.testing.flows import MemoryFlows
from mamori.testing.paths import MemoryPaths
from mamori.testing.services import MemoryServices
from mamori.testing.sessions import MemorySessions
from mamori.testing.store import MemoryStore

__all__ = [
    "FakeClock",
    "FakeInterfaces",
    "FakeLiveSource",
    "MemoryFlows",
    "MemoryPaths",
    "MemoryServices",
    "MemorySessions",
    "MemoryStore",
]
