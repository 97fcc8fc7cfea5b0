"""Fakes and builders for tests, benchmarks and the demo (a pcap builder, a fake clock, a known-paths memory)."""

from mamori.testing.clock import FakeClock
from mamori.testing.flows import MemoryFlows
from mamori.testing.paths import MemoryPaths
from mamori.testing.services import MemoryServices
from mamori.testing.sessions import MemorySessions

__all__ = ["FakeClock", "MemoryFlows", "MemoryPaths", "MemoryServices", "MemorySessions"]
