"""deplat: the operator CLI for a PySpark + Delta Lake lakehouse on AWS.

The CLI side. The job side, what runs on EMR Serverless, is the package deplat_job."""

from deplat_job import __version__

__all__ = ["__version__"]
