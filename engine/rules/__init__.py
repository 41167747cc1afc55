"""The YAML rule language and its runtime.

Compile (pure):  compiler.compile_ruleset({path: text}) -> ir.Ruleset (with .warnings), or RulesetInvalid
Verify:          never_true (an `all` that can never hold: an error), suspicious (warnings)
Read files:      loader.load_dir(dir) -> {path: text} (rules); loader.load_tree(dir) (rules + policy/ and templates/, a version); loader.compile_dir(dir)
Match:           matcher.RuleMatcher(ruleset).read(event, facts, now) / .match(type, values)
Run:             runtime.evaluate_event (a processing evaluator), timers.fire_due(database, now)
Versions:        activation.activate_dir / activate_files / active / history / rollback / current
Tests, replays:  ruletests_run.run_dir(dir), backtest.run_backtest(database, dir, since, until)
"""
