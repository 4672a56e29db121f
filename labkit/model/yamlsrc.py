"""YAML text -> plain Python documents, remembering the line of every field.

Manifests are parsed with PyYAML's composer so that each mapping key and sequence item keeps its
source position; validation errors can then say ``file:line`` for a field path such as
``spec.ingress[0].ports[1].endPort``. No I/O beyond reading the text handed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import ManifestError, Problem


@dataclass
class Document:
    """One YAML document of a manifest: its data, where it came from, and a line per field path."""

    data: Any
    source: str = "<string>"
    index: int = 0
    lines: dict[str, int] = field(default_factory=dict)
    # Warnings parsing found (the API server's "Warning:" answers): the object is still applied.
    warnings: list[Problem] = field(default_factory=list)

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = parent_path(path)


def parent_path(path: str) -> str:
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path.rpartition(".")[0]


def join_path(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else str(key)


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps YAML 1.1 quirks out of Kubernetes manifests.

    Kubernetes' YAML decoder (sigs.k8s.io/yaml) treats ``yes``/``no``/``on``/``off`` as strings,
    so labels like ``enabled: on`` stay strings; PyYAML would make them booleans.
    """


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    __import__("re").compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """LibYAML's parser with :class:`_Loader`'s resolvers: 20x faster, no line numbers."""


_FastLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


def load_fast(text: str) -> list[Any]:
    """Every document of multi-document YAML text, as plain data (for large machine-written files
    such as ``kubectl get -o yaml`` snapshots, where line numbers matter less than speed)."""
    return [d for d in yaml.load_all(text, Loader=_FastLoader) if d is not None]


def _to_python(node: yaml.Node, loader: _Loader, path: str, lines: dict[str, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = join_path(path, str(key))
            lines[child] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, loader, child, lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            child = join_path(path, i)
            lines[child] = item.start_mark.line + 1
            items.append(_to_python(item, loader, child, lines))
        return items
    return loader.construct_object(node, deep=True)


def load_documents(text: str, source: str = "<string>") -> list[Document]:
    """Parse multi-document YAML text; syntax errors become a ManifestError with the line."""
    loader = _Loader(text)
    documents: list[Document] = []
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[str, int] = {}
            data = _to_python(node, loader, "", lines)
            if data is not None:
                documents.append(Document(data=data, source=source, index=index, lines=lines))
            index += 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(
            Problem(
                message=f"invalid YAML: {problem}",
                source=source,
                line=line,
                hint="check indentation and quoting around that line",
            )
        ) from exc
    finally:
        loader.dispose()
    return documents


def documents_from_data(data: Any, source: str = "<data>") -> list[Document]:
    """Wrap already-parsed objects (a dict or a list of dicts) as documents without line info.

    A ``kind: List`` object (as ``kubectl get -o yaml`` prints) is expanded into its items.
    """
    items = data if isinstance(data, list) else [data]
    docs: list[Document] = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("kind") == "List" and isinstance(item.get("items"), list):
            docs.extend(Document(data=sub, source=source, index=i) for sub in item["items"])
        else:
            docs.append(Document(data=item, source=source, index=i))
    return docs


def expand_lists(documents: list[Document]) -> list[Document]:
    """Expand ``kind: List`` documents into one document per item (keeping line numbers)."""
    out: list[Document] = []
    for doc in documents:
        data = doc.data
        if isinstance(data, dict) and data.get("kind") == "List" and isinstance(data.get("items"), list):
            for i, item in enumerate(data["items"]):
                prefix = f"items[{i}]"
                sub_lines = {
                    k[len(prefix) + 1 :] if k.startswith(prefix + ".") else "": v
                    for k, v in doc.lines.items()
                    if k == prefix or k.startswith(prefix + ".")
                }
                out.append(Document(data=item, source=doc.source, index=doc.index, lines=sub_lines))
        else:
            out.append(doc)
    return out
