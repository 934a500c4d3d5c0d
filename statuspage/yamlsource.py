"""Read YAML while remembering where every value came from, so errors can name file:line:column.

Duplicate keys are refused (PyYAML would silently keep the last one, which hides typos).
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]
MAX_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000  # after aliases are expanded; stops "billion laughs" documents
MAX_DEPTH = 64  # lists and mappings nested deeper than this are refused, not a RecursionError
MAX_QUOTED = 60  # a quoted value longer than this is shortened in an error line


class SourceError(Exception):
    """One or more problems in a file, each already formatted as one line."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass
class YamlDocument:
    path: Path
    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return str(self.path)

    def position(self, loc: Loc) -> tuple[int, int]:
        """The position of ``loc``, or of its closest ancestor present in the file."""
        for end in range(len(loc), -1, -1):
            found = self.positions.get(tuple(loc[:end]))
            if found:
                return found
        return (1, 1)

    def error(self, loc: Loc, message: str) -> str:
        line, column = self.position(loc)
        where = shorten(format_loc(loc))
        prefix = f"{self.display_name}:{line}:{column}: "
        return prefix + (f"{where}: {shorten(message)}" if where else shorten(message))


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def shorten(text: str) -> str:
    """Keep an error one readable line: a long quoted value (a 2 MB id) is cut to its start, with
    its length; whatever else is too long is cut too. Control characters are shown escaped."""

    def cut(match: re.Match[str]) -> str:
        quoted = match.group(0)
        if len(quoted) <= MAX_QUOTED + 2:
            return quoted
        return f"{quoted[: MAX_QUOTED - 10]}…\" ({len(quoted) - 2} characters)"

    text = _QUOTED.sub(cut, text)
    text = "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return text if len(text) <= 400 else text[:399] + "…"


def yaml_kind(value: Any) -> str:
    """How a wrongly shaped value reads in an error message: "a list", "the value 3"."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "empty"
    return f"the value {json.dumps(value, default=str)}"


def format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def load_yaml(path: Path) -> YamlDocument:
    name = str(path)
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > MAX_BYTES:
                # Refused before reading: a 50 MB file costs nothing, and neither does /dev/zero below.
                raise SourceError([f"{name}: {info.st_size} bytes is larger than the {MAX_BYTES} bytes allowed"])
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SourceError([f"{name}: no such file (give --config FILE or set STATUSPAGE_CONFIG)"]) from None
    except IsADirectoryError:
        raise SourceError([f"{name}: is a directory, not a YAML file"]) from None
    except OSError as exc:
        raise SourceError([f"{name}: cannot be read: {exc.strerror}"]) from None
    if len(raw) > MAX_BYTES:
        raise SourceError([f"{name}: more than the {MAX_BYTES} bytes allowed"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SourceError([f"{name}:{line}:{column}: not valid UTF-8 (byte 0x{raw[exc.start]:02x})"]) from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    name = str(path)
    bad = _UNPRINTABLE.search(text)
    if bad:
        # PyYAML refuses these too, but with a character offset instead of a line.
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        code = ord(bad.group(0))
        raise SourceError([f"{name}:{line}:{column}: a control character (U+{code:04X}) is not allowed in YAML"])
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SourceError([f"{name}:1:1: the file is empty"])
        document = YamlDocument(path=path, data=None)
        document.data = _Builder(loader, document).build(node, ())
        return document
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        if mark is None:
            raise SourceError([f"{name}: {problem}"]) from None
        raise SourceError([f"{name}:{mark.line + 1}:{mark.column + 1}: {_yaml_words(problem)}"]) from None
    except yaml.YAMLError as exc:
        raise SourceError([f"{name}: {shorten(' '.join(str(exc).split()))}"]) from None
    except RecursionError:  # a last resort: _Loader and _Builder limit the depth before this
        raise SourceError([f"{name}: lists or mappings are nested too deeply"]) from None
    finally:
        loader.dispose()


# What the YAML 1.1 reader refuses (it allows tab, LF, CR, NEL and printable characters).
_UNPRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


class _Loader(yaml.SafeLoader):
    """A SafeLoader that refuses nesting deeper than :data:`MAX_DEPTH` with the line where it
    happens, instead of running out of Python stack."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.MarkedYAMLError(
                    problem=f"lists or mappings are nested more than {MAX_DEPTH} deep", problem_mark=mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _yaml_words(problem: str) -> str:
    if "found character '\\t'" in problem:
        return "a tab character; indent YAML with spaces"
    return problem


_PLAIN_COLLECTIONS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class _Builder:
    """Turns the node graph into plain data, recording positions and refusing what PyYAML allows
    but a configuration must not have: duplicate keys, aliases that contain themselves, and
    aliases that expand into an enormous document."""

    def __init__(self, loader: yaml.SafeLoader, document: YamlDocument) -> None:
        self.loader = loader
        self.document = document
        self.active: set[int] = set()
        self.count = 0

    def fail(self, node: yaml.Node, loc: Loc, message: str) -> SourceError:
        where = format_loc(loc)
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        return SourceError(
            [f"{self.document.display_name}:{line}:{column}: " + shorten(f"{where}: {message}" if where else message)]
        )

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.count += 1
        if len(loc) > MAX_DEPTH:  # aliases inside aliases can nest deeper than the text does
            raise self.fail(node, loc[:8], f"lists or mappings are nested more than {MAX_DEPTH} deep")
        if self.count > MAX_NODES:
            raise self.fail(node, loc, f"the document expands to more than {MAX_NODES} values (too many aliases)")
        if id(node) in self.active:
            raise self.fail(node, loc, "an alias refers to the value that contains it")
        self.document.positions.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_COLLECTIONS:
            # PyYAML's safe loader refuses such tags on scalars but would read `!!python/...` or
            # `!include` on a list or mapping as if it were not there.
            tag = node.tag.replace("tag:yaml.org,2002:", "!!", 1)
            raise self.fail(node, loc, f"the tag {tag} is not allowed here")
        if isinstance(node, yaml.MappingNode):
            self.active.add(id(node))
            try:
                return self.mapping(node, loc)
            finally:
                self.active.discard(id(node))
        if isinstance(node, yaml.SequenceNode):
            self.active.add(id(node))
            try:
                return [self.build(item, loc + (index,)) for index, item in enumerate(node.value)]
            finally:
                self.active.discard(id(node))
        return self.loader.construct_object(node, deep=True)

    def mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                if any(item is node or id(item) in self.active for item in merged):
                    raise self.fail(key_node, loc, "a merge key (<<) refers to the mapping that contains it")
        try:
            self.loader.flatten_mapping(node)
        except RecursionError:
            raise self.fail(node, loc, "a merge key (<<) refers to the mapping that contains it") from None
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, loc, "a key must be a plain value, not a list or mapping")
            key = self.loader.construct_object(key_node, deep=True)
            where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if isinstance(key, bool) or not isinstance(key, str):
                key = key_node.value  # `yes:` or `1:` mean the text as written
            if key in result:
                raise self.fail(key_node, loc + (key,), f"duplicate key {key!r}")
            self.document.positions[loc + (key,)] = where
            result[key] = self.build(value_node, loc + (key,))
        return result
