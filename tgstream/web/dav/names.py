"""The WebDAV view's names, pure: one folder per month of posting, and in each folder one
name per file, the same whichever order the files are listed in.

A file is named as everywhere else (its `file_name`), made fit for one path segment.  When
two files of a folder would share a name (compared case-folded: Windows and macOS clients
would merge them otherwise), the one with the lowest message id keeps it and each other
gets its message id before the extension, ``clip (1234).mp4``; the oldest file's name
therefore never changes when a namesake arrives later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ...store import IndexEntry

__all__ = ["MONTH", "folder_names", "segment_name", "with_id"]

# A month folder's name: the only names the root holds.
MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
# Not in a path segment: the separators, and control characters no file manager shows.
_UNFIT = re.compile(r"[/\\\x00-\x1f\x7f]")


def segment_name(entry: IndexEntry) -> str:
    """The file's name as one path segment: separators and control characters become
    "_"; a name that is empty, "." or ".." (which would name a folder) becomes
    ``file-{message id}``."""
    name = _UNFIT.sub("_", entry.file_name).strip(" ")
    if name in ("", ".", ".."):
        return f"file-{entry.message_id}"
    return name


def with_id(name: str, message_id: int) -> str:
    """``clip.mp4`` -> ``clip (1234).mp4``; a name with no extension gets the id at its
    end (``.bashrc`` -> ``.bashrc (1234)``)."""
    dot = name.rfind(".")
    if dot <= 0:
        return f"{name} ({message_id})"
    return f"{name[:dot]} ({message_id}){name[dot:]}"


def folder_names(entries: Iterable[IndexEntry]) -> dict[str, IndexEntry]:
    """Each file of one folder under its unique name (see the module's doc)."""
    ordered = sorted(entries, key=lambda e: e.message_id)
    named: dict[str, IndexEntry] = {}
    taken: set[str] = set()
    later: list[tuple[str, IndexEntry]] = []
    for entry in ordered:
        name = segment_name(entry)
        if name.casefold() in taken:
            later.append((name, entry))
            continue
        taken.add(name.casefold())
        named[name] = entry
    # After every plain name is taken, so that a file literally called "clip (1234).mp4"
    # keeps its name whatever the order.
    for name, entry in later:
        unique = with_id(name, entry.message_id)
        while unique.casefold() in taken:
            unique = with_id(unique, entry.message_id)
        taken.add(unique.casefold())
        named[unique] = entry
    return named
