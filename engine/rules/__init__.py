"""The YAML rule language: load, validate, compile to IR, and evaluate.

Public API:
    load_dir(path) -> dict[str, str]             rule files under a directory (loader)
    compile_ruleset(files) -> ir.Ruleset          pure; raises RulesetInvalid
    build_reader(values) -> read(event, facts, now_epoch) -> dict of comparable values
    py_evaluator.matching_rules / durable_evaluator.DurableEvaluator
"""
