"""Where each layer's schema comes from: the peer clients' own packages, installed pinned.

`make peers` (run by the Makefile's install stamp) puts Pyrogram's source distributions and
GramJS's npm package under `.venv/peers/`; nothing of them is copied into this repository.
Layer 229 needs no file: it is Kurigram's generated classes, the emulator's own objects.
"""

from __future__ import annotations

import functools
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .schema import Schema, parse

# The layer the emulator's objects are in (Kurigram 2.2.26's pyrogram.raw).
NATIVE_LAYER = 229
_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Source:
    layer: int
    client: str
    # Relative to the peers directory.
    path: str


# One schema per client release the emulator is checked against, oldest first.
SOURCES = (
    Source(151, "Pyrogram 2.0.93", "sdist/Pyrogram-2.0.93.tar.gz"),
    Source(158, "Pyrogram 2.0.106", "sdist/Pyrogram-2.0.106.tar.gz"),
    Source(198, "GramJS telegram 2.26.22", "gramjs/node_modules/telegram/tl/apiTl.js"),
)


class SchemaMissing(LookupError):
    """The peer package holding a layer's schema is not installed (run `make peers`)."""


def peers_dir() -> Path:
    return Path(os.environ.get("TGEMU_PEERS_DIR") or _ROOT / ".venv" / "peers")


def source_for(layer: int) -> Source | None:
    """The schema a client declaring `layer` is answered in; None for Kurigram's own.

    A layer between two shipped schemas gets the newest one not above it (Telegram would
    answer exactly, but no installed client of that layer exists to take its schema from);
    one below the oldest gets the oldest.
    """
    if layer >= NATIVE_LAYER:
        return None
    fitting = [source for source in SOURCES if source.layer <= layer]
    return fitting[-1] if fitting else SOURCES[0]


def schema_for(layer: int) -> Schema | None:
    source = source_for(layer)
    return None if source is None else load(source, peers_dir())


@functools.cache
def load(source: Source, directory: Path) -> Schema:
    path = directory / source.path
    if not path.exists():
        raise SchemaMissing(f"{source.client}'s schema (layer {source.layer}) is not at {path}")
    text = _schema_text(path)
    declared = _declared_layer(path, text)
    if declared != source.layer:
        raise SchemaMissing(f"{path} holds layer {declared}, not {source.layer}")
    return parse(text, source.layer)


def _schema_text(path: Path) -> str:
    if path.name.endswith(".tar.gz"):
        # Pyrogram's sdist: compiler/api/source/main_api.tl, read straight from the archive.
        with tarfile.open(path) as archive:
            for member in archive.getmembers():
                if member.name.endswith("compiler/api/source/main_api.tl"):
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        return extracted.read().decode()
        raise SchemaMissing(f"{path} has no compiler/api/source/main_api.tl")
    # GramJS: a CommonJS module whose export is the schema as one template literal.
    module = path.read_text()
    start, end = module.index("`") + 1, module.rindex("`")
    return module[start:end]


def _declared_layer(path: Path, text: str) -> int | None:
    found = re.search(r"//\s*LAYER\s+(\d+)", text)
    if found is None:
        # GramJS states its layer beside the schema, in AllTLObjects.js.
        sibling = path.with_name("AllTLObjects.js")
        found = re.search(r"LAYER\s*=\s*(\d+)", sibling.read_text()) if sibling.exists() else None
    return int(found.group(1)) if found else None
