"""FIX data dictionaries as data: reading QuickFIX-format XML, and the shipped FIX 4.2 / 4.4 tables.

A *spec* is a plain dict (what ``FIX42.json`` / ``FIX44.json`` hold, and what :func:`parse_quickfix_xml`
returns)::

    {"version": "FIX.4.2",
     "fields":   [[tag, name, type, [[enum, description], ...]], ...],
     "header":   [node, ...], "trailer": [node, ...],
     "messages": [[msgtype, name, msgcat, [node, ...]], ...]}

    node = [tag, required]                      a field
         | [tag, required, [node, ...]]         a repeating group: its NumInGroup tag, then its members
                                                 (the first member is the delimiter)

Components are expanded in place. ``required`` is the *effective* flag with QuickFIX's rules (a field of
a component is required when it and the component are; a member of a group when it and the group are;
the fields of a component inside a group never are), so a validator reading a spec rejects exactly what
QuickFIX's DataDictionary rejects.

The shipped tables are generated from QuickFIX's FIX42.xml / FIX44.xml by ``scripts/gen_fix_spec.py``.
This product includes software developed by quickfixengine.org (http://www.quickfixengine.org/); see
``NOTICE.quickfix.txt`` beside this file.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from typing import Any
from xml.parsers import expat

__all__ = ["STANDARD_VERSIONS", "SpecError", "load_standard_spec", "parse_quickfix_xml"]

STANDARD_VERSIONS = ("FIX.4.2", "FIX.4.4")

Spec = dict[str, Any]


class SpecError(ValueError):
    """A data dictionary file is malformed; the message names the file, line and element."""


class _Node:
    __slots__ = ("attrs", "children", "line", "tag")

    def __init__(self, tag: str, attrs: dict[str, str], line: int) -> None:
        self.tag = tag
        self.attrs = attrs
        self.line = line
        self.children: list[_Node] = []

    def where(self) -> str:
        name = self.attrs.get("name")
        return f"line {self.line}: <{self.tag}{f' name={name!r}' if name else ''}>"


def _parse_tree(data: bytes, source: str) -> _Node:
    p = expat.ParserCreate()
    stack: list[_Node] = []
    root: list[_Node] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        n = _Node(tag, attrs, p.CurrentLineNumber)
        if stack:
            stack[-1].children.append(n)
        else:
            root.append(n)
        stack.append(n)

    def end(_tag: str) -> None:
        stack.pop()

    p.StartElementHandler = start
    p.EndElementHandler = end
    try:
        p.Parse(data, True)
    except expat.ExpatError as e:
        raise SpecError(f"{source}: line {e.lineno}, column {e.offset}: not well-formed XML: "
                        f"{expat.ErrorString(e.code)}") from None
    if not root:
        raise SpecError(f"{source}: empty document")
    return root[0]


def _yes(v: str | None) -> bool:
    return v in ("Y", "y")


def parse_quickfix_xml(path: str | os.PathLike[str] | bytes) -> Spec:
    """Read a QuickFIX-format data dictionary (``<fix major= minor=>`` with fields, header, trailer,
    messages, components) into a spec. ``path`` may also be the XML bytes. Raises :class:`SpecError`
    naming the line and element of the first problem."""
    if isinstance(path, bytes):
        data, source = path, "<bytes>"
    else:
        source = os.fspath(path)
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as e:
            raise SpecError(f"{source}: cannot read: {e.strerror or e}") from None
    root = _parse_tree(data, source)

    def err(node: _Node, what: str) -> SpecError:
        return SpecError(f"{source}: {node.where()}: {what}")

    if root.tag != "fix":
        raise err(root, "the root element must be <fix>")
    ftype = root.attrs.get("type", "FIX")
    if ftype not in ("FIX", "FIXT"):
        raise err(root, "type attribute must be FIX or FIXT")
    major, minor = root.attrs.get("major"), root.attrs.get("minor")
    if major is None or minor is None:
        raise err(root, "major and minor attributes are required on <fix>")
    version = f"{ftype}.{major}.{minor}"
    sections: dict[str, _Node] = {}
    for c in root.children:
        if c.tag in sections:
            raise err(c, f"<{c.tag}> appears more than once")
        sections[c.tag] = c
    for need in ("fields", "messages", *(("header", "trailer") if ftype == "FIXT" or major < "5" else ())):
        if need not in sections:
            raise err(root, f"<{need}> section not found")

    # ---- fields
    fields: list[list[Any]] = []
    names: dict[str, int] = {}
    for fnode in sections["fields"].children:
        if fnode.tag != "field":
            raise err(fnode, "only <field> elements are allowed in <fields>")
        name, number, typ = fnode.attrs.get("name"), fnode.attrs.get("number"), fnode.attrs.get("type")
        if not name:
            raise err(fnode, "<field> has no name attribute")
        if number is None or not number.strip().isdigit() or int(number) <= 0:
            raise err(fnode, f"<field> {name} needs a positive integer number attribute, got {number!r}")
        if not typ:
            raise err(fnode, f"<field> {name} has no type attribute")
        if name in names:
            raise err(fnode, f"field {name} is defined twice")
        tag = int(number)
        enums: list[list[str]] = []
        for v in fnode.children:
            if v.tag != "value":
                raise err(v, f"only <value> elements are allowed in <field> {name}")
            ev = v.attrs.get("enum")
            if ev is None:
                raise err(v, f"<value> has no enum attribute in field {name}")
            enums.append([ev, v.attrs.get("description", "")])
        names[name] = tag
        fields.append([tag, name, typ.upper(), enums])
    if not fields:
        raise err(sections["fields"], "no fields defined")

    components: dict[str, _Node] = {}
    if "components" in sections:
        for c in sections["components"].children:
            if c.tag != "component" or not c.attrs.get("name"):
                raise err(c, "<components> holds only <component name=...> elements")
            components[c.attrs["name"]] = c

    def lookup(node: _Node) -> int:
        name = node.attrs.get("name")
        if not name:
            raise err(node, f"<{node.tag}> has no name attribute")
        tag = names.get(name)
        if tag is None:
            raise err(node, f"field {name} is not defined in the <fields> section")
        return tag

    # QuickFIX's DataDictionary::readFromDocument / addXMLComponentFields / addXMLGroup, as data
    def group(node: _Node, group_required: bool, depth: int) -> list[Any]:
        if depth > 32:
            raise err(node, "groups nested too deeply (a component includes itself?)")
        members: list[list[Any]] = []
        for c in node.children:
            if c.tag == "field":
                members.append([lookup(c), _yes(c.attrs.get("required")) and group_required])
            elif c.tag == "component":
                members.extend(component(c, False, depth + 1))
            elif c.tag == "group":
                members.append([lookup(c), _yes(c.attrs.get("required")) and group_required,
                                group(c, _yes(c.attrs.get("required")), depth + 1)])
            else:
                raise err(c, f"unexpected <{c.tag}> in a group")
        if not members:
            raise err(node, "a group needs at least one member")
        return members

    def component(node: _Node, required: bool, depth: int) -> list[list[Any]]:
        if depth > 32:
            raise err(node, "components nested too deeply (a component includes itself?)")
        name = node.attrs.get("name")
        if not name:
            raise err(node, "<component> has no name attribute")
        cnode = components.get(name)
        if cnode is None:
            raise err(node, f"component {name} is not defined in <components>")
        out: list[list[Any]] = []
        for c in cnode.children:
            if c.tag == "field":
                out.append([lookup(c), _yes(c.attrs.get("required")) and required])
            elif c.tag == "group":
                out.append([lookup(c), _yes(c.attrs.get("required")) and required,
                            group(c, _yes(c.attrs.get("required")), depth + 1)])
            elif c.tag == "component":
                # QuickFIX passes the nested component's own flag, not and-ed with the outer one
                out.extend(component(c, _yes(c.attrs.get("required")), depth + 1))
            else:
                raise err(c, f"unexpected <{c.tag}> in component {name}")
        return out

    def body(node: _Node) -> list[list[Any]]:
        out: list[list[Any]] = []
        for c in node.children:
            if c.tag == "field":
                out.append([lookup(c), _yes(c.attrs.get("required"))])
            elif c.tag == "group":
                req = _yes(c.attrs.get("required"))
                out.append([lookup(c), req, group(c, req, 1)])
            elif c.tag == "component":
                out.extend(component(c, _yes(c.attrs.get("required")), 1))
            else:
                raise err(c, f"unexpected <{c.tag}> in <{node.tag}>")
        return out

    header = body(sections["header"]) if "header" in sections else []
    trailer = body(sections["trailer"]) if "trailer" in sections else []
    messages: list[list[Any]] = []
    seen: set[str] = set()
    for m in sections["messages"].children:
        if m.tag != "message":
            raise err(m, "only <message> elements are allowed in <messages>")
        mt = m.attrs.get("msgtype")
        if not mt:
            raise err(m, "<message> has no msgtype attribute")
        if mt in seen:
            raise err(m, f"msgtype {mt} is defined twice")
        seen.add(mt)
        messages.append([mt, m.attrs.get("name", ""), m.attrs.get("msgcat", ""), body(m)])
    if not messages:
        raise err(sections["messages"], "no messages defined")
    return {"version": version, "fields": fields, "header": header, "trailer": trailer, "messages": messages}


@cache
def load_standard_spec(begin_string: str) -> Spec:
    """The shipped spec of ``FIX.4.2`` or ``FIX.4.4`` (generated from QuickFIX's XML)."""
    if begin_string not in STANDARD_VERSIONS:
        raise ValueError(f"no shipped data dictionary for {begin_string!r}; "
                         f"shipped: {', '.join(STANDARD_VERSIONS)} (load others from QuickFIX XML)")
    name = begin_string.replace(".", "") + ".json"
    with resources.files(__name__).joinpath(name).open("rb") as f:
        spec: Spec = json.load(f)
    return spec
