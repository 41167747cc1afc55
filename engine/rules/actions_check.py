"""Compile a rule's `then:` list: load each action's parameters and cross-check them."""

from __future__ import annotations

import difflib

from engine.rules import ir, tables
from engine.rules.actions import ACTIONS, KNOWN_NAMES, TEMPLATE_FIELD, freeze, load_domain_actions
from engine.rules.conditions import CondContext, values_of, with_table_inputs
from engine.rules.paths import PathError, resolve
from engine.rules.ruletests import kind_problem
from engine.rules.schemas import load
from engine.rules.yaml_lines import line_of
from engine.subjects import noun


class ActionChecker:
    """Turn action nodes into ir.Action, reporting every problem through the build."""

    def __init__(self, build):
        self.build = build
        self.refs: list[tuple[str, int, str, str, str]] = []  # file, line, rule, param, target

    def compile_all(self, node, line: int, ctx: CondContext):
        """Return (actions or None, values open_while reads, values templates show)."""
        if not isinstance(node, list):
            return None, frozenset(), frozenset()
        self.watched, self.shown = set(), set()
        actions = [self.compile_one(item, line_of(node, i, line), ctx) for i, item in enumerate(node)]
        return (None if None in actions else tuple(actions)), frozenset(self.watched), frozenset(self.shown)

    def compile_one(self, node, line: int, ctx: CondContext) -> ir.Action | None:
        if not isinstance(node, dict) or len(node) != 1:
            ctx.error(line, "an action is written `- name: {parameters}`, like `- task: {queue: finance, ...}`")
            return None
        ((name, params),) = node.items()
        spec = load_domain_actions().get(name)
        if spec is None:
            close = difflib.get_close_matches(str(name), list(ACTIONS), n=1)
            hint = f"did you mean {close[0]}?" if close else "actions: " + ", ".join(ACTIONS)
            ctx.error(line, f"unknown action {name!r} ({hint})")
            return None
        if not isinstance(params, dict) and spec.shorthand and isinstance(params, str):
            params = {spec.shorthand: params}
        at = line_of(node, name, line)
        if not self.fits_subject(spec, params, at, ctx):
            return None
        before = len(self.build.errors)
        bind = tables.bind_params(
            params, ctx.scope, lambda key, msg: ctx.error(line_of(params, key, at), f"{name}: {key}: {msg}")
        )
        if bind is None:
            return None
        variants, bound = bind  # a parameter from a decision table: checked with each row's value
        data = None
        for variant in variants:
            loaded = load(spec.schema, variant, at, lambda ln, msg: ctx.error(ln, f"{name}: {msg}"))
            if loaded is None:
                return None
            self.cross_check(spec, loaded, params, at, ctx)
            data = data or loaded
        if len(self.build.errors) > before:
            return None
        self.shown.update(with_table_inputs(bound.values()))
        return ir.Action(name, freeze(data), at, tuple(sorted((k, v.key) for k, v in bound.items())))

    def fits_subject(self, spec, params, line: int, ctx: CondContext) -> bool:
        """Refuse an action (or a parameter) that acts on a client in a rule about another subject."""
        subject = ctx.scope.subject
        if subject == "client":
            return True
        about = f"this rule is about a {noun(subject)} (its events: {', '.join(ctx.scope.events)})"
        if not spec.fits(subject):
            fitting = sorted(n for n, s in load_domain_actions().items() if s.fits(subject))
            ctx.error(line, f"{spec.name}: acts on a client, but {about}; it may take: {', '.join(fitting)}")
            return False
        bad = [k for k in spec.client_params if isinstance(params, dict) and k in params]
        for key in bad:
            ctx.error(line_of(params, key, line), f"{spec.name}: {key}: only for a rule about a client; {about}")
        return not bad

    def cross_check(self, spec, data: dict, node, line: int, ctx: CondContext) -> None:
        def report(key, message):
            ctx.error(line_of(node, key, line), f"{spec.name}: {key}: {message}")

        for key in spec.templates:
            if key in data:
                data[key] = self.template(data[key], lambda msg, k=key: report(k, msg), ctx)
        for key in spec.event_types:
            for name in [data[key]] if isinstance(data.get(key), str) else data.get(key, []):
                if name not in self.build.catalogue:
                    report(key, f"unknown event type {name!r}")
        for key in spec.queues:
            self.check_queue(data.get(key), lambda msg, k=key: report(k, msg))
        for key, kind in spec.references.items():
            if data.get(key):
                self.check_reference(kind, data[key], lambda msg, k=key: report(k, msg))
        for key in spec.conditions:
            if key in data:
                self.watch(data[key], lambda msg, k=key: report(k, msg))
        for key in spec.rule_refs:
            self.refs.append((ctx.file, line_of(node, key, line), ctx.rule_id, key, data[key]))
        if "route" in data:
            self.check_route(data["route"], lambda msg: report("route", msg), ctx)
        if spec.name == "emit" and data["type"] in self.build.catalogue:
            self.check_emit(data, lambda msg: report("data", msg), ctx)

    def check_reference(self, kind: str, name: str, report) -> None:
        """Report a name the ruleset's configuration does not define, with the nearest one."""
        lister = KNOWN_NAMES.get(kind)
        known = lister(self.build.config) if lister else None
        if known is None or name in known:
            return
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = (
            f"did you mean {close[0]}?"
            if close
            else (f"known: {', '.join(sorted(known))}" if known else f"the ruleset defines no {kind}")
        )
        report(f"unknown {kind} {name!r} ({hint})")

    def template(self, value, report, ctx: CondContext) -> str:
        if isinstance(value, dict):
            found = self.build.templates.get(value["template"])
            if found is None:
                report(f"unknown template {value['template']!r}")
                return ""
            value = found[2]
        for path in TEMPLATE_FIELD.findall(value):
            try:
                self.shown.add(resolve(path, ctx.scope).value)
            except PathError as exc:
                report(f"{{{path}}}: {exc}")
        return value

    def check_queue(self, queue, report) -> None:
        """A queue must be one of `definitions: queues:` when the ruleset defines them, else
        one the domains know (KNOWN_NAMES["queue"])."""
        if queue is None:
            return
        if not self.build.queues:
            self.check_reference("queue", queue, report)
        elif queue not in self.build.queues:
            close = difflib.get_close_matches(queue, sorted(self.build.queues), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            report(f"unknown queue {queue!r} ({hint}queues: {', '.join(sorted(self.build.queues))})")

    def check_route(self, route: dict, report, ctx: CondContext) -> None:
        if len(route) != 1:
            report("route by one value: `route: {event.reason_code: {value: queue}}`")
            return
        ((path, table),) = route.items()
        try:
            ref = resolve(path, ctx.scope)
        except PathError as exc:
            report(str(exc))
            return
        if ref.value.kind != "text":
            report(f"{path} is not text; route by a text value")
        self.shown.add(ref.value)
        for queue in table.values():
            self.check_queue(queue, report)

    def watch(self, name: str, report) -> None:
        cond = self.build.named_ir.get(name)
        if cond is None:
            report(
                f"unknown condition {name!r}" if name not in self.build.named_src else f"condition {name!r} has errors"
            )
            return
        if any(v.source == "event" for v in values_of(cond)):
            report(f"condition {name} reads event fields; open_while may read client facts only")
        self.watched.update(values_of(cond))

    def check_emit(self, data: dict, report, ctx: CondContext) -> None:
        subject = getattr(self.build.catalogue[data["type"]], "subject", "client")
        if subject != "client":  # emitted events are the client's own
            report(f"{data['type']} is about a {noun(subject)}: a rule emits events about a client only")
            return
        fields = self.build.catalogue[data["type"]].fields
        for key, value in data["data"].items():
            if key not in fields:
                report(f"{key} is not a field of {data['type']}")
            elif isinstance(value, str) and TEMPLATE_FIELD.search(value):
                self.template(value, report, ctx)
            elif isinstance(value, (dict, list)):
                report(f"{key}: give a plain value or a {{placeholder}}")
            else:  # a literal: of the field's kind, like a rule test's event value
                problem = kind_problem(fields[key].kind, value, fields[key].choices)
                if problem:
                    report(f"field {key}: {problem}")

    def check_rule_refs(self, rules: list[ir.Rule]) -> None:
        with_tasks = {r.id for r in rules if any(a.name == "task" for a in r.actions)}
        for file, line, rule_id, key, target in self.refs:
            if target not in self.build.rule_sites:
                self.build.reporter(file, rule_id)(line, f"{key}: unknown rule {target!r}")
            elif target not in with_tasks and target in {r.id for r in rules}:
                self.build.reporter(file, rule_id)(line, f"{key}: rule {target} creates no task")
