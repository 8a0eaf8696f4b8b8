"""The WebDAV view's resources and their properties, and the 207 Multi-Status body that
answers a PROPFIND (RFC 4918 §9.1, §13, §15), pure: records in, XML bytes out.

Every property is live and read-only.  A file's getetag and getlastmodified are the
ETag and Last-Modified its GET answers (the same /dl answers), so a client that compares
them sees one file, however it reached it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import quote

from ...store import IndexEntry
from .propfind import DAV, Propfind, PropName

__all__ = ["Resource", "entry_etag", "folder", "multistatus", "propfind_finite_depth"]

ET.register_namespace("D", DAV)

DISPLAYNAME = (DAV, "displayname")
RESOURCETYPE = (DAV, "resourcetype")
GETCONTENTLENGTH = (DAV, "getcontentlength")
GETCONTENTTYPE = (DAV, "getcontenttype")
GETETAG = (DAV, "getetag")
GETLASTMODIFIED = (DAV, "getlastmodified")
FILE_PROPERTIES = (
    DISPLAYNAME,
    RESOURCETYPE,
    GETCONTENTLENGTH,
    GETCONTENTTYPE,
    GETETAG,
    GETLASTMODIFIED,
)
FOLDER_PROPERTIES = (DISPLAYNAME, RESOURCETYPE, GETLASTMODIFIED)


def entry_etag(entry: IndexEntry) -> str:
    # The spelling of web.conditional.etag_of, from the index's record (a unit test holds
    # the two equal): the Telegram file id and size.
    return f'"{entry.media_id:x}-{entry.size:x}"'


@dataclass(frozen=True)
class Resource:
    """A folder (the root, a month) or a file, at `path` under the view's mount: "/",
    "/2026-11/", "/2026-11/clip.mp4" (not percent-encoded)."""

    path: str
    name: str
    entry: IndexEntry | None = None
    modified: int | None = None  # a folder's: its newest file's

    @property
    def collection(self) -> bool:
        return self.entry is None

    def values(self) -> dict[PropName, str | None]:
        """Each property the resource has: its text (None: an element, resourcetype)."""
        found: dict[PropName, str | None] = {DISPLAYNAME: self.name, RESOURCETYPE: None}
        entry = self.entry
        modified = entry.modified if entry is not None else self.modified
        if modified is not None:
            found[GETLASTMODIFIED] = formatdate(modified, usegmt=True)
        if entry is not None:
            found[GETCONTENTLENGTH] = str(entry.size)
            found[GETCONTENTTYPE] = entry.mime_type or "application/octet-stream"
            found[GETETAG] = entry_etag(entry)
        return found


def folder(path: str, name: str, entries: Iterable[IndexEntry]) -> Resource:
    newest = max((e.modified for e in entries), default=None)
    return Resource(path, name, None, newest)


def _qname(name: PropName) -> str:
    namespace, local = name
    return f"{{{namespace}}}{local}" if namespace else local


def _d(local: str) -> str:
    return f"{{{DAV}}}{local}"


def _propstat(parent: ET.Element, status: str) -> ET.Element:
    propstat = ET.SubElement(parent, _d("propstat"))
    prop = ET.SubElement(propstat, _d("prop"))  # callers fill it
    ET.SubElement(propstat, _d("status")).text = f"HTTP/1.1 {status}"
    return prop


def _value(prop: ET.Element, resource: Resource, name: PropName, text: str | None) -> None:
    element = ET.SubElement(prop, _qname(name))
    if name == RESOURCETYPE:
        if resource.collection:
            ET.SubElement(element, _d("collection"))
    elif text is not None:
        element.text = text


def _response(root: ET.Element, base: str, resource: Resource, request: Propfind) -> None:
    response = ET.SubElement(root, _d("response"))
    ET.SubElement(response, _d("href")).text = quote(base + resource.path)
    values = resource.values()
    if request.kind == "propname":
        prop = _propstat(response, "200 OK")
        for name in values:
            ET.SubElement(prop, _qname(name))
        return
    if request.kind == "allprop":
        wanted: Iterable[PropName] = values
        missing: list[PropName] = []
    else:
        wanted = [n for n in request.names if n in values]
        missing = [n for n in request.names if n not in values]
    if wanted or not missing:
        prop = _propstat(response, "200 OK")
        for name in wanted:
            _value(prop, resource, name, values[name])
    if missing:
        prop = _propstat(response, "404 Not Found")
        for name in missing:
            ET.SubElement(prop, _qname(name))


def multistatus(base: str, resources: Iterable[Resource], request: Propfind) -> bytes:
    """The 207 body: one DAV:response per resource, hrefs under `base` (the mount path,
    no trailing slash), percent-encoded."""
    root = ET.Element(_d("multistatus"))
    for resource in resources:
        _response(root, base, resource, request)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def propfind_finite_depth() -> bytes:
    """The 403 body refusing Depth: infinity (RFC 4918 §9.1, §16)."""
    root = ET.Element(_d("error"))
    ET.SubElement(root, _d("propfind-finite-depth"))
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
