"""The dashboard's views, one module per area."""
