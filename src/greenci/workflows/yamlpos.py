"""YAML with positions: the document as plain Python values, and where each value sits in the file.

Errors in a workflow file should say where to look (``ci.yml: line 12, column 17: ...``). PyYAML's
``compose`` keeps a mark on every node; :func:`load` builds the values from those nodes (anchors, aliases
and ``<<`` merge keys resolved as ``safe_load`` does) and keeps the node tree so that a path of keys
(``("jobs", "build", "duration")``) can be turned back into a line and a column when a message needs one.
A path is walked on demand, never up front, so an alias-heavy file costs nothing extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from greenci.errors import DataFormatError


@dataclass(frozen=True)
class Located:
    """A YAML document's root node, for turning a key path into a line and column (both 1-based)."""

    name: str
    root: Any  # yaml.Node | None

    def at(self, path: Sequence[Any], *, key: bool = False) -> tuple[int, int] | None:
        """Line and column of the value at ``path`` (of its key with ``key=True``); the deepest node
        reached when the path leaves the tree (a default value, an alias the path cannot follow)."""
        node, mark = self.root, None if self.root is None else self.root.start_mark
        for k, step in enumerate(path):
            last = k == len(path) - 1
            found = _child(node, step)
            if found is None:
                break
            key_node, node = found
            mark = key_node.start_mark if (last and key and key_node is not None) else node.start_mark
        return None if mark is None else (mark.line + 1, mark.column + 1)

    def where(self, path: Sequence[Any], *, key: bool = False) -> str:
        """``line L, column C`` of ``path``, or the empty string when the text has no position."""
        pos = self.at(path, key=key)
        return f"line {pos[0]}, column {pos[1]}" if pos else ""

    def error(self, path: Sequence[Any], message: str, *, key: bool = False) -> DataFormatError:
        """A :class:`DataFormatError` naming the file, line and column of ``path``."""
        where = self.where(path, key=key)
        return DataFormatError(f"{where}: {message}" if where else message, path=self.name)


def _child(node: Any, step: Any) -> tuple[Any, Any] | None:
    """(key node, value node) of ``step`` in a mapping node, or (None, item) of an index in a sequence."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        hit = None
        for key_node, value_node in node.value:  # merged pairs come first: the last match is the one kept
            if _scalar(key_node) == step:
                hit = (key_node, value_node)
        return hit
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return None, node.value[step]
    return None


def _scalar(node: Any) -> Any:
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        return object()  # a complex key never equals a path step
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def load(text: str, name: str) -> tuple[Any, Located]:
    """The document of ``text`` (as ``yaml.safe_load`` reads it) and its positions; malformed YAML is a
    :class:`DataFormatError` naming ``name``, the line and the column where the parser stopped."""
    import yaml

    loader = None
    try:
        loader = yaml.SafeLoader(text)  # its reader refuses control characters already here
        node = loader.get_single_node()
        doc = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise yaml_error(exc, name) from None
    except yaml.YAMLError as exc:
        raise DataFormatError(f"not valid YAML: {str(exc).splitlines()[0]}: fix the file's syntax", path=name) \
            from None
    finally:
        if loader is not None:
            loader.dispose()
    return doc, Located(name, node)


def yaml_error(exc: Any, name: str) -> DataFormatError:
    """A parser's error as one line: where it stopped, what it found, and what it was reading."""
    mark = exc.problem_mark or exc.context_mark
    problem = " ".join(str(exc.problem or exc.__class__.__name__).split())
    context = f" ({' '.join(str(exc.context).split())})" if exc.context else ""
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return DataFormatError(f"{where}not valid YAML: {problem}{context}: fix the file's syntax there (indentation, "
                           "a missing ':' or an unclosed quote or bracket)", path=name)


def strings(value: Any) -> tuple[str, ...] | None:
    """A YAML value that is one string or a list of strings, as a tuple (nothing: ``()``); None otherwise."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return tuple(value)
    return None
