"""Fakes and builders for tests, benchmarks and the demo (a pcap builder, a fake clock)."""

from mamori.testing.clock import FakeClock

__all__ = ["FakeClock"]
