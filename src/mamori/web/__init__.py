"""The web dashboard: a Django project (settings built from the mamori settings file), server-rendered pages in
Japanese and English, every asset vendored. Reads through storage; never imports runtime (docs/design.md §3)."""
