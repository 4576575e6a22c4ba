"""deplat_job: the job side of deplat, what EMR Serverless runs (its Python 3.9 runtime, Spark drivers
and executors). `deplat deploy` ships exactly this package as the job package
(`deplat_job-<version>.zip` on --py-files); jobs/*.py are its entry points.

It holds the pipelines, the source readers, the DQ engine and suite format, and the contracts both
sides share (errors, table paths, secret names, the metrics line). It imports nothing of the CLI
package `deplat` (pyproject's import-linter contract `job-side`); the CLI imports it.
Python 3.9-compatible; standard library only at import time.
"""

__version__ = "0.1.0"
