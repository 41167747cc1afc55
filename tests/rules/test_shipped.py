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


def test_shipped_rules_and_configuration_have_no_warning():
    """`fxcrm rules check rules` must print no warning: each is either a real problem of the
    shipped rules (fix them) or a false positive of the check (refine it)."""
    from engine.rules.activation import validate

    ruleset = validate(load_tree(RULES_DIR))
    assert [str(w) for w in ruleset.warnings] == []
    for folder in ("onboarding", "payments", "ib", "accounts"):  # activated alone by some tests
        assert validate(load_tree(RULES_DIR / folder)).warnings == ()
