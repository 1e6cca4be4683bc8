"""The install layout: one `testimony` namespace over the top-level folders."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
MAPPING = PYPROJECT["tool"]["setuptools"]["package-dir"]


# Sources that are built, not installed: the browser module's npm project
# (its bundle lands in service/web/static, which is installed).
NOT_INSTALLED = ("service/web/js/",)


def _package_folders() -> set[str]:
    """Every folder under a mapped top-level folder that holds a file git knows of."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    names = set()
    for package, folder in MAPPING.items():
        for name in files:
            if not name.startswith(folder + "/") or name.startswith(NOT_INSTALLED):
                continue
            relative = Path(name).parent.relative_to(folder).parts
            names.add(".".join([package, *relative]))
    return names


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    missing = _package_folders() - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


def test_namespaces_import_from_the_mapped_folders() -> None:
    for package, folder in MAPPING.items():
        module = importlib.import_module(package)
        assert Path(module.__file__).resolve().parent == ROOT / folder


def test_nothing_installs_a_bare_crypto_module() -> None:
    # DESIGN.md: nothing installs a bare top-level `crypto` (or `service`) module.
    code = "import importlib.util as u, sys; sys.path.remove(''); print(u.find_spec('crypto'), u.find_spec('service'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True
    )
    assert out.stdout.strip() == "None None"


def test_console_script_reports_its_version() -> None:
    exe = Path(sys.executable).with_name("testimony")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"testimony {PYPROJECT['project']['version']}"
