"""Settings are declared once (minescope.settings), documented, and the only way to the environment."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from helpers import ROOT
from minescope import settings

SRC = ROOT / "src" / "minescope"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VARIABLE = re.compile(r"\bMINESCOPE_[A-Z][A-Z0-9_]*\b")
# Modules that may touch os.environ other than to read a setting, and why.
ENVIRON_ALLOWED = {
    "dimensions/network/readers/nfdump.py": "passes the environment on to nfdump, with TZ=UTC",
}


def _documented() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in DOCS)


def test_the_settings_table_is_documented_as_declared() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert settings.markdown_table() in doc, "docs/settings.md: paste minescope.settings.markdown_table() again"
    assert "docs/settings.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_each_setting_is_declared_once_with_help_in_both_languages() -> None:
    names = [s.name for s in settings.SETTINGS]
    envs = [s.env for s in settings.SETTINGS]
    assert len(set(names)) == len(names) and len(set(envs)) == len(envs)
    for s in settings.SETTINGS:
        assert s.env == f"MINESCOPE_{s.name.upper()}"
        assert s.zh and s.en and s.shown_default
        assert re.search(r"[\u4e00-\u9fff]", s.zh), s.name


def test_every_variable_in_code_tests_and_tools_is_documented() -> None:
    places = [ROOT / "src", ROOT / "tests", ROOT / "benchmarks", ROOT / "tools", ROOT / "scripts"]
    files = [f for p in places for f in p.rglob("*") if f.suffix in (".py", ".sh", ".md", ".toml") and f.is_file()]
    files += [ROOT / "Makefile", ROOT / "pyproject.toml"]
    used = {m for f in files for m in VARIABLE.findall(f.read_text(encoding="utf-8", errors="replace"))}
    assert {s.env for s in settings.SETTINGS} <= used | {settings.DEBUG.env}
    documented = set(VARIABLE.findall(_documented()))
    assert used - documented == set(), "document these in docs/settings.md"


def test_the_code_names_only_declared_settings() -> None:
    declared = {s.env for s in settings.SETTINGS}
    for path in SRC.rglob("*.py"):
        unknown = set(VARIABLE.findall(path.read_text(encoding="utf-8"))) - declared
        assert not unknown, f"{path.relative_to(SRC)} names {unknown}: declare them in minescope/settings.py"


def _environ_uses(tree: ast.AST) -> list[int]:
    """Lines that touch the environment: os.environ, os.getenv/putenv/unsetenv, or importing them from os."""
    names = ("environ", "environb", "getenv", "getenvb", "putenv", "unsetenv")
    attributes = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                  and isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in names]
    imports = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "os"
               and any(a.name in names for a in node.names)]
    return attributes + imports


@pytest.mark.parametrize("path", sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")))
def test_only_settings_reads_the_environment(path: str) -> None:
    if path == "settings.py":
        return
    text = (SRC / path).read_text(encoding="utf-8")
    uses = _environ_uses(ast.parse(text))
    if path in ENVIRON_ALLOWED:
        assert uses, f"{path} no longer needs its exception in ENVIRON_ALLOWED"
        assert not any(VARIABLE.search(text.splitlines()[n - 1]) for n in uses)
        return
    assert not uses, f"{path}:{uses}: read settings through minescope.settings, not os.environ"


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for s in settings.SETTINGS:
        monkeypatch.delenv(s.env, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert settings.DB.value() == str(tmp_path / "data" / "minescope" / "minescope.db")
    assert settings.FEEDS.value() == str(tmp_path / "config" / "minescope" / "feeds") and not settings.FEEDS.is_set()
    assert settings.lang() == "zh" and settings.SPARK_MASTER.value() == "local[2]" and not settings.debug()
    monkeypatch.setenv("MINESCOPE_LANG", "en_US.UTF-8")
    monkeypatch.setenv("MINESCOPE_DB", "postgresql+psycopg://db/minescope")
    monkeypatch.setenv("MINESCOPE_DEBUG", "1")
    assert settings.lang() == "en" and settings.DB.value() == "postgresql+psycopg://db/minescope" and settings.debug()
    monkeypatch.setenv("MINESCOPE_DB", "")  # empty counts as unset
    assert settings.DB.value() == str(tmp_path / "data" / "minescope" / "minescope.db")

    from minescope.store.findings import default_db_path

    assert default_db_path() == tmp_path / "data" / "minescope" / "minescope.db"
