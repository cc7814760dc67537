"""How far one parameter travels through the package: a measure of how many places must know it.

    python3 tools/param_hops.py preset profile [--root snc]

For each name it counts, from the source alone (``ast``, nothing is imported):

* ``functions``: functions and methods that take a parameter of that name;
* ``hops``: calls inside those functions that pass the parameter on unchanged (``f(x)``, ``f(x=x)``);
* ``modules``: how many modules those functions live in, and ``crossings``: hops whose caller's
  module differs from the module that defines the callee's name (when the callee is a plain name
  defined in the package);
* ``string tests``: comparisons of the name (or ``.name``) with string literals, e.g.
  ``preset == "archival"`` or ``x.preset in ("a", "b")``: each is a place that re-interprets it.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def _defined_names(files: dict[Path, ast.Module]) -> dict[str, set[Path]]:
    where: dict[str, set[Path]] = {}
    for path, tree in files.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                where.setdefault(node.name, set()).add(path)
    return where


def _callee_name(call: ast.Call) -> str | None:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


def _is_the_name(node: ast.AST, name: str) -> bool:
    return (isinstance(node, ast.Name) and node.id == name) or (isinstance(node, ast.Attribute) and node.attr == name)


def _is_string_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return bool(node.elts) and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
    return False


def measure(root: Path, name: str) -> dict:
    files = {p: ast.parse(p.read_text(), str(p)) for p in sorted(root.rglob("*.py"))}
    defined = _defined_names(files)
    functions, hops, crossings, modules, tests = 0, 0, 0, set(), 0
    for path, tree in files.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if any(_is_the_name(s, name) for s in sides) and any(_is_string_literal(s) for s in sides):
                    tests += 1
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = node.args
            params = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
            if name not in params:
                continue
            functions += 1
            modules.add(path)
            for call in ast.walk(node):
                if not isinstance(call, ast.Call):
                    continue
                passed = any(isinstance(a, ast.Name) and a.id == name for a in call.args) or any(
                    isinstance(k.value, ast.Name) and k.value.id == name for k in call.keywords)
                if not passed:
                    continue
                hops += 1
                homes = defined.get(_callee_name(call) or "", set())
                if homes and path not in homes:
                    crossings += 1
    return {"functions": functions, "modules": len(modules), "hops": hops, "crossings": crossings,
            "string tests": tests}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="+")
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1] / "snc"))
    args = ap.parse_args(argv)
    print("| parameter | functions taking it | modules | hops (passed on) | module crossings | string tests |")
    print("|---|---|---|---|---|---|")
    for name in args.names:
        m = measure(Path(args.root), name)
        cells = [m["functions"], m["modules"], m["hops"], m["crossings"], m["string tests"]]
        print(f"| `{name}` | " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
