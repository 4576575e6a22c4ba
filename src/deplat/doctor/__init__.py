"""`deplat doctor`: is this machine and environment ready? Each failed check says how to fix it.

check.py holds the result type, local.py the machine's and local stack's checks, cloud.py a cloud
environment's (AWS access, resources, Lake Formation). cloud.py imports check.py, never local.py: the
package has no import cycle."""

from deplat.doctor.check import Check
from deplat.doctor.local import cli_python_floor, run_checks

__all__ = ["Check", "cli_python_floor", "run_checks"]
