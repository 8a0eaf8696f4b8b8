"""TL schema text -> constructors and functions, pure (no I/O).

Parses the `name#id field:type ... = Result;` lines of Telegram's api.tl, as the clients ship
it. Names are matched across layers (and against Kurigram's class names) by `norm`, which
drops case and underscores: `inputPeerEmpty`, `InputPeerEmpty` and `input_peer_empty` are one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Types the wire codec reads and writes itself rather than as constructors.
PRIMITIVES = frozenset({"int", "long", "double", "string", "bytes", "int128", "int256", "Bool"})
_BUILTIN_NAMES = frozenset({"boolFalse", "boolTrue", "true", "vector", "error", "null"})
_LINE = re.compile(r"^([\w.]+)#([0-9a-fA-F]{1,8})\s+(.*?)\s*=\s*([^;]+);$")


def norm(name: str) -> str:
    """The key a TL name or a Kurigram class name is matched by."""
    return name.replace("_", "").lower()


@dataclass(frozen=True, slots=True)
class TLType:
    """A field's type: `name` is a primitive, a boxed type, `Vector`/`vector` (with `arg`),
    `true`, `#` or a generic (`X`, `!X`)."""

    name: str
    arg: TLType | None = None

    @property
    def is_vector(self) -> bool:
        return self.name in ("Vector", "vector")

    @property
    def is_generic(self) -> bool:
        return self.name.startswith("!") or self.name == "X"

    @property
    def is_bare_constructor(self) -> bool:
        # `%T` or a lower-case constructor name used as a type: written without its id.
        last = self.name.rsplit(".", 1)[-1]
        return self.name.startswith("%") or (
            self.name not in PRIMITIVES and self.name not in ("true", "#") and last[:1].islower()
        )


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: TLType
    # (flags field, bit) for `flags.N?type`.
    flag: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Constructor:
    name: str
    id: int
    params: tuple[Param, ...]
    result: str
    is_function: bool


@dataclass
class Schema:
    layer: int
    by_id: dict[int, Constructor] = field(default_factory=dict)
    types: dict[str, Constructor] = field(default_factory=dict)
    functions: dict[str, Constructor] = field(default_factory=dict)
    # Boxed type name -> its constructors, for a neutral value of a type.
    of_type: dict[str, list[Constructor]] = field(default_factory=dict)

    def find(self, name: str, is_function: bool) -> Constructor | None:
        return (self.functions if is_function else self.types).get(norm(name))

    def add(self, constructor: Constructor) -> None:
        self.by_id[constructor.id] = constructor
        table = self.functions if constructor.is_function else self.types
        table.setdefault(norm(constructor.name), constructor)
        if not constructor.is_function:
            self.of_type.setdefault(constructor.result, []).append(constructor)


def parse_type(text: str) -> TLType:
    if text.startswith("Vector<") or text.startswith("vector<"):
        return TLType(text[:6], parse_type(text[7:-1]))
    return TLType(text)


def parse_param(text: str) -> Param | None:
    """One `name:type` token; None for the `{X:Type}` generic declarations."""
    if text.startswith("{"):
        return None
    name, _, type_text = text.partition(":")
    if not type_text:
        raise ValueError(f"malformed field {text!r}")
    flag = None
    if "?" in type_text:
        condition, _, type_text = type_text.partition("?")
        flags_field, _, bit = condition.partition(".")
        flag = (flags_field, int(bit))
    return Param(name, parse_type(type_text), flag)


def parse_line(line: str, is_function: bool) -> Constructor | None:
    """A declaration line, or None for a line that declares nothing the codec needs."""
    match = _LINE.match(line)
    if match is None:
        return None
    name, hex_id, params_text, result = match.groups()
    if name in _BUILTIN_NAMES:
        return None
    params = tuple(
        p for p in (parse_param(token) for token in params_text.split()) if p is not None
    )
    return Constructor(name, int(hex_id, 16), params, result.strip(), is_function)


def parse(text: str, layer: int) -> Schema:
    """Every constructor and function of a schema text (`---functions---` splits the two)."""
    schema = Schema(layer)
    is_function = False
    pending = ""  # a declaration may span lines; it ends with `;`
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line == "---functions---":
            is_function, pending = True, ""
        elif line == "---types---":
            is_function, pending = False, ""
        elif line:
            pending = f"{pending} {line}".strip()
            if pending.endswith(";"):
                constructor = parse_line(pending, is_function)
                if constructor is not None:
                    schema.add(constructor)
                pending = ""
    return schema
