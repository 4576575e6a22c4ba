"""Data quality on the CLI side: the check and gate service (service.py) over the suites in
dq/suites/*.yml. The suite format and the Spark/GX engine are job side: deplat_job.dq."""
