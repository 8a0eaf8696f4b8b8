"""The control API (HTTP/JSON): configuration, files, users, channels, counters and faults.

The contract is in shared/design/brief.md; outside checks rely on these names.  Bad input is
answered with a 4xx JSON error, never a 500.  One router per resource; app.py assembles them.
"""

from .app import create_control_app

__all__ = ["create_control_app"]
