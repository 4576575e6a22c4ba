"""Data quality on the job side: the suite format (suite.py) and the Spark/GX engine (engine.py).
The CLI's check and gate service is deplat.dq.service."""
