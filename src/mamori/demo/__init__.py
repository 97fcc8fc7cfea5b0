"""The demo site and captures that `mamori demo` makes, so a new user sees real alerts within a minute."""

from mamori.demo.scenario import DEMO_SITE, write_demo

__all__ = ["DEMO_SITE", "write_demo"]
