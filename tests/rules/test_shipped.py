"""The rules shipped in rules/ compile, and the loader leaves non-rule folders alone."""
from pathlib import Path

from engine.rules.loader import compile_dir, load_dir, load_tree

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


def test_shipped_rules_compile():
    rs = compile_dir(RULES_DIR)
    assert rs.rules and len({r.id for r in rs.rules}) == len(rs.rules)


def test_policy_and_templates_folders_are_not_rule_files(tmp_path):
    (tmp_path / "policy").mkdir()
    (tmp_path / "templates").mkdir()
    (tmp_path / "sub").mkdir()
    for path in ("policy/x.yaml", "templates/t.yaml", "sub/r.yaml", "a.yml", "notes.txt"):
        (tmp_path / path).write_text("x: 1\n")
    assert list(load_dir(tmp_path)) == ["a.yml", "sub/r.yaml"]
    # They are the tree's configuration: part of a version, never compiled as rules.
    assert list(load_tree(tmp_path)) == ["a.yml", "sub/r.yaml", "policy/x.yaml", "templates/t.yaml"]
