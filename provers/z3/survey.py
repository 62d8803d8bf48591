"""Survey a directory of SyGuS files: which load, which are refused and why.

    python -m provers.z3.survey DIR

prints `loaded: N`, `refused: N` and the refusal reasons grouped by message, most common
first. Exits 1 if any file raised something other than a ProblemFormatError (a bug).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from proofloop.errors import ProblemFormatError
from provers.z3.sygus import parse_problem


@dataclass
class Survey:
    loaded: list[Path] = field(default_factory=list)
    refused: dict[Path, str] = field(default_factory=dict)
    crashed: dict[Path, str] = field(default_factory=dict)
    seconds: float = 0.0

    def reasons(self) -> list[tuple[str, int]]:
        return Counter(self.refused.values()).most_common()


def survey(root: Path) -> Survey:
    """Try to load every .sl file under `root`."""
    result = Survey()
    start = time.perf_counter()
    for path in sorted(Path(root).rglob("*.sl")):
        try:
            parse_problem(path.read_text(encoding="utf-8"), path)
        except ProblemFormatError as e:
            result.refused[path] = e.message
        except Exception as e:  # a bug in the loader: reported, never swallowed
            result.crashed[path] = f"{type(e).__name__}: {e}"
        else:
            result.loaded.append(path)
    result.seconds = time.perf_counter() - start
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m provers.z3.survey DIR", file=sys.stderr)
        return 2
    result = survey(Path(args[0]))
    print(f"loaded: {len(result.loaded)}")
    print(f"refused: {len(result.refused)}")
    for message, count in result.reasons():
        print(f"  {count:5d}  {message}")
    if result.crashed:
        print(f"crashed: {len(result.crashed)}")
        for path, message in sorted(result.crashed.items()):
            print(f"  {path}: {message}")
    print(f"seconds: {result.seconds:.1f}")
    return 1 if result.crashed else 0


if __name__ == "__main__":
    sys.exit(main())
