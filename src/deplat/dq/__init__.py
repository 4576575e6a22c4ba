"""Data quality: suites (dq/suites/*.yml), the Spark/GX engine, the check and gate service."""
