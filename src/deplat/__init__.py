"""deplat: the operator CLI for a PySpark + Delta Lake lakehouse on AWS."""

__version__ = "0.1.0"
