"""The local stack: real services as subprocesses, each a small declaration (services.py)."""
