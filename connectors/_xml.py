"""A small XML tree with source line numbers, built with expat; DTDs are refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

from connectors.errors import MalformedPayload


@dataclass
class Node:
    """One element: namespace, local name, attributes, text, children and its line."""

    ns: str
    name: str
    line: int
    attrs: dict[str, str] = field(default_factory=dict)
    children: list["Node"] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Return the element's own text, stripped."""
        return "".join(self.parts).strip()

    def find(self, path: str) -> "Node | None":
        """Return the first element at a `A/B/C` path of local names, or None."""
        found = self.find_all(path)
        return found[0] if found else None

    def find_all(self, path: str) -> list["Node"]:
        """Return every element at a `A/B/C` path of local names."""
        nodes = [self]
        for name in path.split("/"):
            nodes = [child for node in nodes for child in node.children if child.name == name]
        return nodes

    def text_at(self, path: str) -> str | None:
        """Return the stripped text at `path`, or None when absent or empty."""
        node = self.find(path)
        return (node.text or None) if node is not None else None


def parse(data: bytes) -> Node:
    """Parse an XML document into Nodes; raise MalformedPayload with the line on error."""
    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[Node] = []
    roots: list[Node] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        ns, _, name = tag.rpartition(" ")
        node = Node(ns, name, parser.CurrentLineNumber, attrs)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def refuse_dtd(*_args) -> None:
        # Entity definitions allow expansion attacks; ISO 20022 files never need a DTD.
        raise MalformedPayload(f"line {parser.CurrentLineNumber}: a DTD is not allowed")

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda _tag: stack.pop()
    parser.CharacterDataHandler = lambda text: stack[-1].parts.append(text) if stack else None
    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise MalformedPayload(f"line {exc.lineno}: not well-formed XML ({expat.ErrorString(exc.code)})") from None
    return roots[0]
