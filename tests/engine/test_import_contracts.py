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


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


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


def test_a_rule_module_that_imports_a_domain_breaks_the_check(tmp_path):
    copy = copy_tree(tmp_path)
    (copy / "engine/rules/violation.py").write_text(
        textwrap.dedent("""
        from engine.kyc import service  # the rules engine must not know a domain
    """)
    )
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "engine.rules.violation -> engine.kyc.service" in result.stdout
    assert "the rules engine (registry, compiler, runtime) imports no domain BROKEN" in result.stdout


def test_engine_importing_web_breaks_the_check(tmp_path):
    copy = copy_tree(tmp_path)
    (copy / "engine/kyc/violation.py").write_text("import web.pages\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "engine and connectors never import web BROKEN" in result.stdout


def test_a_domain_importing_another_domains_plugin_module_breaks_the_check(tmp_path):
    copy = copy_tree(tmp_path)
    (copy / "engine/payments/violation.py").write_text("from engine.kyc import facts\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "engine.payments.violation -> engine.kyc.facts" in result.stdout


def import_graph(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "import_graph.py"), "--packages"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_package_graph_has_no_cycle():
    result = import_graph(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cycles 0" in result.stdout


def test_a_package_cycle_breaks_the_check(tmp_path):
    copy = copy_tree(tmp_path)
    # payments already imports accounts (its service and models): this closes a loop.
    (copy / "engine/accounts/violation.py").write_text("from engine.payments import ledger\n")
    result = import_graph(copy)
    assert result.returncode == 1
    assert "cycle of 2: engine.accounts engine.payments" in result.stdout


def test_a_domain_reading_yaml_lines_itself_breaks_the_check(tmp_path):
    copy = copy_tree(tmp_path)
    (copy / "engine/kyc/violation.py").write_text("from engine.rules.yaml_lines import load_documents\n")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "engine.kyc.violation -> engine.rules.yaml_lines" in result.stdout
