"""Packet sources (live interfaces, capture files) and the decoder that turns frames into observations."""

from mamori.capture.bpf import build_filter
from mamori.capture.decode import Decoder, Observation
from mamori.capture.sources import CaptureStats, FileSource, LiveSource, PacketSource, wait_readable

__all__ = [
    "CaptureStats",
    "Decoder",
    "FileSource",
    "LiveSource",
    "Observation",
    "PacketSource",
    "build_filter",
    "wait_readable",
]
