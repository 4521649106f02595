"""Layers import one way: the runtime at the bottom, the tooling on top.

    env_settings  <  tools, models  <  agent (core)  <  agent.loop  <  agent's package and CLI  <  ui  <  app
    <  fakes  <  stage_cli  <  evaluation  <  training, bench  <  tests

A module may import its own package and the layers below it: never a layer above it, nor a package beside it in the
same layer (tools and models, training and bench stay independent of each other). `models` is the catalogue and the
GGUF file checks; the agent's backends load its files (`agent.backends.load`). Every import statement in every
module's source counts, read with `ast`: those inside functions too, since a lazy import is a dependency all the same.
Outside tests/ nothing imports pytest (the benchmark and the fakes run without it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("env_settings",),  # settings from the environment, read by the tools and the app
    ("tools", "models"),  # the agent's tools; the model catalogue and GGUF file checks
    ("agent",),  # the runtime: messages, format, events, prompts, grammar, endings, backends and model loading
    ("agent.loop",),  # one user turn, on top of the runtime
    ("agent.__init__", "agent.__main__"),  # the package's public names; the command line
    ("ui",),
    ("app",),
    ("fakes",),  # scripted models, the local fake services, the app as a subprocess
    ("stage_cli",),  # the command line of the tooling stages
    ("evaluation",),
    ("training", "bench"),  # training grades with evaluation's scorer
    ("tests",),
)


def layer_of(module: str) -> tuple[int, str]:
    """(rank, the LAYERS entry) of a module: the longest entry that is the module or a package above it."""
    best: tuple[int, str] | None = None
    for rank, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best[1])):
                best = (rank, name)
    if best is None:
        raise KeyError(f"{module} is in no layer: add its package to LAYERS in tests/test_layers.py")
    return best


def first_party_modules(root: Path = REPO) -> dict[str, Path]:
    """Every module of the repository's own top-level packages and modules: dotted name -> file."""
    modules = {path.stem: path for path in root.glob("*.py")}
    for init in root.glob("*/__init__.py"):
        for path in init.parent.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(module: str, source: str, known: set[str], packages: set[str] = frozenset()
                     ) -> list[tuple[int, str]]:
    """(line, module) for each first-party module this source imports; `from pkg import sub` names pkg.sub."""
    package = module if module in packages else module.rpartition(".")[0]
    tops = {name.split(".")[0] for name in known}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x` in package p is p.x
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found += [(node.lineno, target) for target in targets if target.split(".")[0] in tops]
    return found


def layer_name(module: str, known: set[str], packages: set[str]) -> str:
    """The name LAYERS speaks of: a package's own module is `pkg.__init__`; an unknown name, its nearest known one."""
    while module not in known and "." in module:
        module = module.rsplit(".", 1)[0]
    return f"{module}.__init__" if module in packages else module


def violations(sources: dict[str, str], packages: set[str] = frozenset()) -> list[str]:
    """Imports against the direction in these sources (dotted module name -> source text), one line each."""
    known = set(sources)
    problems = []
    for module, source in sorted(sources.items()):
        importer = layer_name(module, known, packages)
        rank, entry = layer_of(importer)
        for line, target in imported_modules(module, source, known, packages):
            target_rank, target_entry = layer_of(layer_name(target, known, packages))
            if target_rank > rank:
                problems.append(f"{module}:{line} imports {target}: {target_entry} is above {entry}")
            elif target_rank == rank and target_entry != entry:
                problems.append(f"{module}:{line} imports {target}: {target_entry} sits beside {entry}")
    return problems


def repository_sources() -> tuple[dict[str, str], set[str]]:
    modules = first_party_modules()
    packages = {name for name, path in modules.items() if path.name == "__init__.py"}
    return {name: path.read_text(encoding="utf-8") for name, path in modules.items()}, packages


def test_every_top_level_package_has_a_layer():
    sources, _ = repository_sources()
    for top in sorted({name.split(".")[0] for name in sources}):
        layer_of(top)  # raises, naming the package, when it has none


def test_imports_go_one_way_only():
    sources, packages = repository_sources()
    assert violations(sources, packages) == []


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("agent.format", "import json\nfrom training.dataset import build\n",
     "agent.format:2 imports training.dataset: training is above agent"),
    ("agent.backends.llamacpp", "def f():\n    from agent.loop import Agent\n",
     "agent.backends.llamacpp:2 imports agent.loop: agent.loop is above agent"),
    ("tools.weather", "from models import catalogue\n",
     "tools.weather:1 imports models.catalogue: models sits beside tools"),
    ("bench.runner", "from tests.conftest import tool_server\n",
     "bench.runner:1 imports tests.conftest: tests is above bench"),
    ("models.catalogue", "from agent import Agent\n",
     "models.catalogue:1 imports agent: agent.__init__ is above models"),
])
def test_an_import_against_the_direction_is_caught(module, source, expected):
    sources = {"agent": "", "agent.format": "", "agent.loop": "", "agent.backends.llamacpp": "", "models": "",
               "models.catalogue": "", "tools.weather": "", "training.dataset": "", "bench.runner": "",
               "tests.conftest": "", module: source}
    assert violations(sources, packages={"agent", "models"}) == [expected]


def test_imports_down_and_within_a_package_are_fine():
    sources = {"agent.format": "", "agent.loop": "from agent.format import parse_tool_calls\nimport tools.base\n",
               "tools.base": "", "tests.test_x": "from agent import loop\nfrom . import conftest\n",
               "tests.conftest": "from agent.loop import Agent\n"}
    assert violations(sources) == []


def import_cycles(sources: dict[str, str], packages: set[str] = frozenset(), inside: str = "training") -> list[str]:
    """Import cycles among the modules of package `inside`, one line each (`a -> b -> a`), lazy imports included."""
    known = set(sources)
    members = {m for m in sources if m == inside or m.startswith(inside + ".")}
    graph = {m: sorted({layer_name(t, known, packages).removesuffix(".__init__")
                        for _, t in imported_modules(m, sources[m], known, packages)} & members - {m})
             for m in members}
    cycles, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        for target in graph[module]:
            if target in path:
                cycle = path[path.index(target):] + [target]
                cycles.append(" -> ".join(cycle))
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    for module in sorted(members):
        if module not in done:
            visit(module, [module])
    return sorted(set(cycles))


def test_the_training_modules_import_each_other_without_a_cycle():
    sources, packages = repository_sources()
    assert import_cycles(sources, packages) == []


def test_an_import_cycle_is_caught_even_through_a_lazy_import():
    sources = {"training.finetune": "from training.shared.result import FinetuneResult\n"
                                    "def f():\n    from training.lean.trainer import train_lean\n",
               "training.lean.trainer": "def g():\n    from training.finetune import FinetuneResult\n",
               "training.shared.result": "", "agent.format": ""}
    assert import_cycles(sources) == ["training.finetune -> training.lean.trainer -> training.finetune"]


def test_nothing_outside_the_tests_imports_pytest():
    sources, _ = repository_sources()
    users = []
    for module, source in sources.items():
        if module.split(".")[0] == "tests":
            continue
        for node in ast.walk(ast.parse(source)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            users += [module for name in names if name.split(".")[0] in ("pytest", "_pytest")]
    assert users == []
