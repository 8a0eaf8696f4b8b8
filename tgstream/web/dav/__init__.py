"""The read-only WebDAV view of the bin channel (view.py), and its pure parts: names,
PROPFIND requests, Multi-Status answers, Basic authentication."""

from .view import BASE, DavView, FileIndex

__all__ = ["BASE", "DavView", "FileIndex"]
