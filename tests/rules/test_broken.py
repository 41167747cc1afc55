"""Every broken rule file reports exactly its expected `file:line: rule-id: message` lines."""

from pathlib import Path

import pytest

from engine.rules.compiler import compile_ruleset
from engine.rules.errors import RulesetInvalid
from tests.rules.conftest import all_facts

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(p for p in BROKEN.iterdir() if p.suffix == ".yaml" or p.is_dir())


def _case(path: Path) -> tuple[dict[str, str], list[str]]:
    if path.is_dir():
        files = {f"{path.name}/{f.name}": f.read_text() for f in sorted(path.glob("*.yaml"))}
        return files, (path / "expected.txt").read_text().splitlines()
    text = path.read_text()
    expected = [line[len("# expect: ") :] for line in text.splitlines() if line.startswith("# expect: ")]
    return {path.name: text}, expected


def test_there_are_at_least_thirty_broken_files():
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_broken_file_reports_expected_errors(path):
    files, expected = _case(path)
    assert expected, f"{path.name} states no expected error"
    with pytest.raises(RulesetInvalid) as info:
        compile_ruleset(files, facts=all_facts())
    assert [str(e) for e in info.value.errors] == expected
    assert str(info.value).splitlines() == expected


WARNINGS = Path(__file__).parent / "warnings"


@pytest.mark.parametrize("path", sorted(WARNINGS.glob("*.yaml")), ids=lambda p: p.name)
def test_suspicious_file_compiles_with_expected_warnings(path):
    files, expected = _case(path)
    assert expected, f"{path.name} states no expected warning"
    ruleset = compile_ruleset(files, facts=all_facts())
    assert [str(w) for w in ruleset.warnings] == expected
    assert all(w.severity == "warning" for w in ruleset.warnings)
