"""Read YAML into dicts and lists that remember the line of every key and item."""

from __future__ import annotations

import yaml

from engine.rules.errors import RuleError


class LineDict(dict):
    """A mapping that knows its own line and the line of each key."""

    line: int = 0
    lines: dict

    def line_of(self, key) -> int:
        return self.lines.get(key, self.line)


class LineList(list):
    """A sequence that knows its own line and the line of each item."""

    line: int = 0
    lines: list

    def line_of(self, index: int) -> int:
        return self.lines[index] if index < len(self.lines) else self.line


def line_of(container, key, default: int = 0) -> int:
    """Return the line of `key` in a LineDict/LineList, or `default`."""
    if isinstance(container, (LineDict, LineList)):
        return container.line_of(key)
    return default


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates and times as text (they are parsed where their kind is known)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, file: str, errors: list[RuleError]):
        self.loader, self.file, self.errors = loader, file, errors

    def build(self, node):
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node)
        if isinstance(node, yaml.SequenceNode):
            out = LineList(self.build(item) for item in node.value)
            out.line, out.lines = node.start_mark.line + 1, [i.start_mark.line + 1 for i in node.value]
            return out
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode) -> LineDict:
        self.loader.flatten_mapping(node)  # resolve YAML merge keys (<<)
        out = LineDict()
        out.line, out.lines = node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            key = self.build(key_node)
            line = key_node.start_mark.line + 1
            if not isinstance(key, (str, int, float, bool)) or key is None:
                self.errors.append(RuleError(self.file, line, "-", "a key must be plain text"))
                continue
            if key in out:
                self.errors.append(RuleError(self.file, line, "-", f"duplicate key {key!r}"))
                continue
            out[key] = self.build(value_node)
            out.lines[key] = line
        return out


def load_documents(file: str, text: str) -> tuple[list, list[RuleError]]:
    """Parse every YAML document in `text`; return (documents, errors)."""
    errors: list[RuleError] = []
    loader = _Loader(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                docs.append(_Builder(loader, file, errors).build(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        context = exc.context
        if context and exc.context_mark and exc.context_mark.line + 1 != line:
            context += f" (opened on line {exc.context_mark.line + 1})"
        problem = " ".join(filter(None, [context, exc.problem]))
        errors.append(RuleError(file, line, "-", f"YAML syntax: {problem}"))
    except yaml.YAMLError as exc:
        errors.append(RuleError(file, 1, "-", f"YAML syntax: {exc}"))
    finally:
        loader.dispose()
    return docs, errors


def line_at(data, path, default: int = 1) -> int:
    """Return the line of the deepest part of key path `path` found in `data`.

    `path` names keys of LineDicts and indexes of LineLists, like an error's path
    (`("required", "individual", "documents", 1)`); where a part is not found, the line
    of the last part found (or of `data` itself) is returned.
    """
    line = getattr(data, "line", 0) or default
    node = data
    for key in path:
        if isinstance(node, LineDict) and key in node:
            line, node = node.line_of(key), node[key]
        elif isinstance(node, LineList) and isinstance(key, int) and 0 <= key < len(node):
            line, node = node.line_of(key), node[key]
        else:
            break
    return line
