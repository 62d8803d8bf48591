"""The version of a checker's own rules: a hash of the code that decides its verdicts.

A verdict depends on the solver or kernel (its own version) and on the prover's front end: the
parser, the candidate reader, the guards, the way a problem is turned into a query. A verdict's
`checker_version` carries both, so a verdict reached under other rules is never reused: the
verdict cache misses, `run --resume` checks again, and `export` leaves the old rows out.

The hash covers the source of a module and of every module of its own package that it imports,
followed transitively. It hashes the text, not the syntax tree, so that the version costs
milliseconds in each checking process; an edit of a comment changes it too, which only costs a
re-check.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
from pathlib import Path

# `from a.b import c, d`, `from .b import (c,\n d)`, and `import a.b, c` at any indentation.
_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n]*)", re.M)


@functools.cache
def rules_version(*roots: str) -> str:
    """Eight hex digits naming the code of `roots` (module names) and their package imports."""
    digest = hashlib.sha256()
    for name, path in sorted(rules_modules(*roots).items()):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:8]


def rules_modules(*roots: str) -> dict[str, Path]:
    """The modules the hash covers, with their files: `roots` and, transitively, the modules of
    their package (`provers.z3` for `provers.z3.checker`) they import, found by path so that
    nothing is imported to find them."""
    found: dict[str, Path] = {}
    todo = [(name, _root_file(name)) for name in roots]
    while todo:
        name, path = todo.pop()
        if name in found:
            continue
        found[name] = path
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for imported in imports(path.read_text(encoding="utf-8"), package):
            if not imported.startswith(package + "."):
                continue
            base = path.parent.joinpath(*imported[len(package) + 1 :].split("."))
            for file in (base.with_suffix(".py"), base / "__init__.py"):
                if file.is_file():
                    todo.append((imported, file))
                    break
    return found


def _root_file(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(name)
    return Path(spec.origin)


def imports(source: str, package: str) -> list[str]:
    """Module names a module of `package` imports, at any indentation; `from m import x` gives m
    and m.x (a caller keeps m.x only where that is a module). A scan of the text, not a parse
    (parsing costs a tenth of a second per process); tests/test_rules.py holds it to the parser's
    answer on every module of the project. A docstring that reads like an import only adds a name."""
    out = []
    for m in _FROM.finditer(source):
        module = m.group(1)
        level = len(module) - len(module.lstrip("."))
        module = module[level:]
        if level:
            parent = package.rsplit(".", level - 1)[0] if level > 1 else package
            module = f"{parent}.{module}" if module else parent
        out.append(module)
        names = re.sub(r"#[^\n]*", "", m.group(2)).strip("() \t\n\\")
        out.extend(f"{module}.{part.split()[0]}" for part in names.split(",") if part.strip())
    for m in _IMPORT.finditer(source):
        out.extend(part.split()[0] for part in re.sub(r"#.*", "", m.group(1)).split(",") if part.strip())
    return out
