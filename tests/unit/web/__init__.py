"""The dashboard's pure parts: the CSV/XLSX tables, the monthly PDF, the Japanese message catalogue."""
