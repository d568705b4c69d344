"""The README's first command installs requirements.txt only: every package the server
imports must come with it (named there, or required by what is), not merely arrive with
the test requirements (pydantic once came only through schemathesis, and the server did
not start)."""

import ast
import re
import sys
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported_top_level_modules():
    modules = set()
    for path in [ROOT / "wsgi.py", ROOT / "gunicorn.conf.py", *(ROOT / "chat").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - {"chat"} - set(sys.stdlib_module_names)


def _normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _name(requirement):
    return _normalized(re.split(r"[=<>!~\[ ;(]", requirement.strip(), maxsplit=1)[0])


def _with_dependencies(names):
    """The named distributions and everything they require (extras left out): what
    installing them brings in."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        todo.extend(_name(r) for r in requires if "extra ==" not in r)
    return seen


def test_every_package_the_server_imports_is_in_requirements_txt():
    required = _with_dependencies(
        _name(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#"))
    distributions = packages_distributions()
    missing = {}
    for module in sorted(_imported_top_level_modules()):
        names = {_normalized(d) for d in distributions.get(module, [module])}
        if not names & required:
            missing[module] = sorted(names)
    assert not missing, f"imported by the server but not in requirements.txt: {missing}"
