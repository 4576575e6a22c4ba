"""Source readers the jobs use: plain Python (no Spark), Python 3.9-compatible."""
