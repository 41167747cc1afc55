"""The import contracts (.importlinter) hold, and the check fails on a deliberate violation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_in(cwd: Path, *command: str) -> subprocess.CompletedProcess:
    """Run a check with `cwd` as the tree it reads."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return run_in(cwd, str(LINT_IMPORTS), "--no-cache")


def import_graph(cwd: Path) -> subprocess.CompletedProcess:
    return run_in(cwd, sys.executable, str(ROOT / "tools" / "import_graph.py"), "--packages")


def test_the_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def copy_tree(tmp_path: Path) -> Path:
    """Copy the packages and the contracts to a temporary folder (sources only)."""
    copy = tmp_path / "repo"
    for name in ("engine", "connectors", "web"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", copy / ".importlinter")
    return copy


def broken_by(tmp_path: Path, path: str, source: str, check=lint_imports) -> str:
    """Add the module `path` with `source` to a copy of the tree; return the failing check's output."""
    copy = copy_tree(tmp_path)
    (copy / path).write_text(source)
    result = check(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout


def test_a_rule_module_that_imports_a_domain_breaks_the_check(tmp_path):
    output = broken_by(
        tmp_path,
        "engine/rules/violation.py",
        textwrap.dedent("""
        from engine.kyc import service  # the rules engine must not know a domain
    """),
    )
    assert "engine.rules.violation -> engine.kyc.service" in output
    assert "the rules engine (registry, compiler, runtime) imports no domain BROKEN" in output


def test_engine_importing_web_breaks_the_check(tmp_path):
    output = broken_by(tmp_path, "engine/kyc/violation.py", "import web.pages\n")
    assert "engine and connectors never import web BROKEN" in output


def test_a_domain_importing_another_domains_plugin_module_breaks_the_check(tmp_path):
    output = broken_by(tmp_path, "engine/payments/violation.py", "from engine.kyc import facts\n")
    assert "engine.payments.violation -> engine.kyc.facts" in output


def test_the_package_graph_has_no_cycle():
    result = import_graph(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cycles 0" in result.stdout


def test_a_package_cycle_breaks_the_check(tmp_path):
    # payments already imports accounts (its service and models): this closes a loop.
    output = broken_by(tmp_path, "engine/accounts/violation.py", "from engine.payments import ledger\n", import_graph)
    assert "cycle of 2: engine.accounts engine.payments" in output


def test_a_domain_reading_yaml_lines_itself_breaks_the_check(tmp_path):
    output = broken_by(tmp_path, "engine/kyc/violation.py", "from engine.rules.yaml_lines import load_documents\n")
    assert "engine.kyc.violation -> engine.rules.yaml_lines" in output
