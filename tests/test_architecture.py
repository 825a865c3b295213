"""The shape of the code: no import cycles, and the controller divided by domain."""

from __future__ import annotations

from pathlib import Path

from tests.import_graph import find_cycles, import_graph

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("controller", "protocol", "firmware", "drivers", "hil", "shailoo")


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_no_module_imports_itself_round_a_cycle() -> None:
    graph = import_graph(ROOT, PACKAGES)
    assert "controller.station.dispatch" in graph  # the packages were read
    cycles = find_cycles(graph)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_controller_has_only_domain_packages_at_its_top() -> None:
    top = ROOT / "controller"
    modules = sorted(p.name for p in top.glob("*.py") if p.name != "__init__.py")
    assert modules == [], f"modules beside the domain packages of controller/: {modules}"
    for package in (p for p in top.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert (package / "__init__.py").is_file(), f"{package.name} is not a package"


def test_a_cycle_is_found_and_named(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import thing\n",
        "pkg/b.py": "def thing():\n    from . import c\n",  # a function-level import counts
        "pkg/c.py": "import pkg.a\n",
        "pkg/d.py": "from pkg import a\n",  # imports into the cycle, is not part of it
    })  # fmt: skip
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg.b"] == {"pkg.c"}
    assert graph["pkg.d"] == {"pkg.a"}  # ``from pkg import a`` is the module pkg.a
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_every_cycle_is_reported_each_once(tmp_path: Path) -> None:
    _write(tmp_path, {
        "one/__init__.py": "",
        "one/x.py": "from ..two import y\n",
        "one/z.py": "from one import x\n",
        "two/__init__.py": "",
        "two/y.py": "from one.x import something\n",
        "two/p.py": "import two.q\n",
        "two/q.py": "from .p import *\n",
    })  # fmt: skip
    cycles = find_cycles(import_graph(tmp_path, ["one", "two"]))
    assert cycles == [["one.x", "two.y", "one.x"], ["two.p", "two.q", "two.p"]]


def test_annotation_only_imports_and_outside_modules_make_no_cycle(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/app.py": "import json\nfrom pkg.api import make\n",
        "pkg/api.py": (
            "from typing import TYPE_CHECKING\n"
            "import json\n"
            "if TYPE_CHECKING:\n"
            "    from pkg.app import App\n"
            "else:\n"
            "    from pkg import util\n"
        ),
        "pkg/util.py": "import os\n",
    })  # fmt: skip
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg.api"] == {"pkg.util"}  # the else branch runs, the TYPE_CHECKING one not
    assert find_cycles(graph) == []
    # The same back-import outside TYPE_CHECKING is a cycle.
    (tmp_path / "pkg/api.py").write_text("from pkg.app import App\n")
    assert find_cycles(import_graph(tmp_path, ["pkg"])) == [["pkg.api", "pkg.app", "pkg.api"]]
