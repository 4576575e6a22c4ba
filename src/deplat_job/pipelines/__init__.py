"""Spark transforms (DataFrame -> DataFrame) and small I/O helpers. Runs on EMR's Python 3.9."""
