"""The README's file tree matches the repository: every module has its line, and every file it names exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def tree_paths(readme: str) -> set[str]:
    """The paths the "## File tree" block names: a line at the left margin is a file or a folder; an indented line is a
    file (or sub-path) in the last folder above it."""
    block = re.search(r"## File tree\n\n```\n(.*?)```", readme, re.DOTALL)
    assert block, "README.md has no ## File tree block"
    paths, folder = set(), ""
    for line in block.group(1).splitlines():
        if not line.strip() or line.startswith(" " * 20):  # a description continued on the next line
            continue
        name = line.split()[0]
        if line[0] != " ":
            folder = name if name.endswith("/") else ""
            paths.add(name.rstrip("/"))
        else:
            paths.add(folder + name)
    return paths


def modules(root: Path = REPO) -> set[str]:
    """Every Python module of the project, but package __init__ files and the test files themselves."""
    found = {p.name for p in root.glob("*.py")}
    for init in root.glob("*/__init__.py"):
        found |= {str(p.relative_to(root)) for p in init.parent.rglob("*.py")
                  if p.name != "__init__.py" and not p.name.startswith("test_")}
    return found


def test_every_module_has_a_line_in_the_readme_tree():
    listed = tree_paths((REPO / "README.md").read_text(encoding="utf-8"))
    assert sorted(modules() - listed) == []


def test_every_path_in_the_readme_tree_exists():
    listed = tree_paths((REPO / "README.md").read_text(encoding="utf-8"))
    assert sorted(path for path in listed if not (REPO / path).exists()) == []


def test_the_tree_reader_sees_folders_nested_files_and_missing_lines():
    readme = ("## File tree\n\n```\napp.py     the app\nagent/     the runtime\n  loop.py  the loop\n"
              "  backends/base.py   the interface\n                     more words about it\ndata/bfcl/   data\n```\n")
    assert tree_paths(readme) == {"app.py", "agent", "agent/loop.py", "agent/backends/base.py", "data/bfcl"}
