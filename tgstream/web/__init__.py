"""The HTTP side: download and watch routes, status, metrics and health."""
