"""The `tgstream demo` command and the sample video it streams."""
