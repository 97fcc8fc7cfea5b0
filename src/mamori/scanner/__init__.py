"""The one part of mamori that sends packets: the nmap runner (docs/design.md §10). Kept apart from every reader
and detector so that what may send is small and easy to review."""

from mamori.scanner.nmap import NmapError, NmapRun, nmap_argv, run_nmap, source_address

__all__ = ["NmapError", "NmapRun", "nmap_argv", "run_nmap", "source_address"]
