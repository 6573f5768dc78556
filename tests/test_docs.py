"""The contributors' maps match the code: docs/ARCHITECTURE.md and the README's layout table.

Both name modules by path, so both go stale the day a module is added, moved or
split.  Here: every path ``docs/ARCHITECTURE.md`` names (a backticked ``….py``
or ``…/``, relative to ``syndicate/`` or to the repository) exists, and every
module and package of ``syndicate/`` is named there; the README's ``Layout``
table has one row per top-level module and package, and each package's row
names every module in it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "syndicate"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
README = ROOT / "README.md"

PATH = re.compile(r"[\w.\-/]+(?:\.py|/)")  # a backticked span that names a file or a folder


def backticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


def named_paths(text: str) -> set[str]:
    return {span for span in backticked(text) if PATH.fullmatch(span)}


def exists(path: str) -> bool:
    return any((base / path).exists() for base in (PACKAGE, ROOT))


def package_paths() -> set[str]:
    """Every module (``store/outbox.py``) and package (``store/``) under syndicate/, by its path there."""
    out = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.name == "__init__.py":
            if rel.parent != Path("."):
                out.add(f"{rel.parent.as_posix()}/")
        else:
            out.add(rel.as_posix())
    return out


def test_the_walk_finds_the_package():
    paths = package_paths()
    assert {"store/", "store/outbox.py", "targets/bluesky/", "targets/bluesky/records.py", "app.py"} <= paths


def test_every_path_architecture_names_exists():
    missing = sorted(p for p in named_paths(ARCHITECTURE.read_text(encoding="utf-8")) if not exists(p))
    assert not missing, "docs/ARCHITECTURE.md names paths that do not exist: " + ", ".join(missing)


def test_architecture_names_every_module_and_package():
    named = named_paths(ARCHITECTURE.read_text(encoding="utf-8"))
    unnamed = sorted(package_paths() - named)
    assert not unnamed, "modules docs/ARCHITECTURE.md does not name (give each its one line): " + ", ".join(
        unnamed)


def layout_rows() -> dict[str, str]:
    """The README's ``## Layout`` table: first cell (``store/``, ``app.py``) → the row's text."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2 and (m := re.fullmatch(r"`([^`]+)`", cells[0])):
            rows[m.group(1)] = line
    return rows


def test_the_readme_layout_has_a_row_per_top_level_module_and_package():
    top = {p for p in package_paths() if p.count("/") == 0 or (p.count("/") == 1 and p.endswith("/"))}
    top -= {"__main__.py"}
    rows = set(layout_rows())
    assert rows == top, (f"README layout rows for missing modules: {sorted(rows - top)}; "
                         f"modules without a row: {sorted(top - rows)}")


def test_each_package_row_of_the_readme_layout_names_its_modules():
    rows = layout_rows()
    unnamed = []
    for path in sorted(package_paths()):
        if "/" not in path.rstrip("/"):
            continue  # a top-level module or package: a row of its own
        package = path.split("/", 1)[0] + "/"
        inner = path[len(package):]  # "outbox.py", "bluesky/", "bluesky/records.py"
        name = inner.rstrip("/").rsplit("/", 1)[-1]
        stem = name.removesuffix(".py")
        spans = backticked(rows.get(package, ""))
        if not spans & {stem, name, inner, f"{stem}/", path}:
            unnamed.append(path)
    assert not unnamed, "modules the README's layout row of their package does not name: " + ", ".join(unnamed)
