"""A flow sink in memory: the zone detector's hourly counts, added up per key as the store adds them."""

from __future__ import annotations

from collections.abc import Sequence

from mamori.model import FlowCount

__all__ = ["MemoryFlows"]


class MemoryFlows:
    def __init__(self) -> None:
        self.flows: dict[tuple[float, str, str, str, int, bool], FlowCount] = {}
        self.saves = 0

    def save(self, flows: Sequence[FlowCount]) -> None:
        self.saves += 1
        for flow in flows:
            key = (flow.hour, flow.src_segment, flow.dst_segment, flow.proto, flow.port, flow.forbidden)
            old = self.flows.get(key)
            self.flows[key] = (
                flow
                if old is None
                else old._replace(
                    connections=old.connections + flow.connections,
                    blocked=old.blocked + flow.blocked,
                    new=old.new + flow.new,
                )
            )
