"""Persistent state of the server: auth keys, the DC map and resolved files."""

from .sqlite import AuthKeyRecord, FileInfo, Store

__all__ = ["AuthKeyRecord", "FileInfo", "Store"]
