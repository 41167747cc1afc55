"""Compile rule files ({relative path: text}) into the IR. Pure: no I/O, no database."""

from __future__ import annotations

import difflib
import hashlib
from typing import Mapping

from engine.events.catalogue import EVENT_TYPES
from engine.facts import load_domain_facts, subject_facts
from engine.subjects import noun
from engine.rules import ir, ruletests, suspicious, tables, timing
from engine.rules.actions import load_domain_actions
from engine.rules.actions_check import ActionChecker
from engine.rules.conditions import CondContext, compile_condition, values_of
from engine.rules.errors import RuleError, RulesetInvalid
from engine.rules.paths import Scope
from engine.rules.schemas import (
    DefinitionsDocSchema,
    DefinitionsSchema,
    RuleSchema,
    RulesetSchema,
    TestsDocSchema,
    load,
)
from engine.rules.yaml_lines import line_of, load_documents


# Top-level folders of a rules tree that hold domain configuration (policy/, read by
# the domains) and notification templates (templates/): not rule files, but part of a
# version, so a policy edit takes effect only when activated, with the rules.
CONFIG_FOLDERS = ("policy", "templates")


def is_config(path: str) -> bool:
    """Return whether a relative path of a ruleset is configuration, not a rule file."""
    return path.split("/", 1)[0] in CONFIG_FOLDERS


def ruleset_version(files: Mapping[str, str]) -> str:
    """Return the sha256 of the sorted relative paths and their contents."""
    digest = hashlib.sha256()
    for path in sorted(files):
        for part in (path.encode(), files[path].encode()):
            digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def compile_ruleset(
    files: Mapping[str, str], *, catalogue: Mapping | None = None, facts: Mapping | None = None
) -> ir.Ruleset:
    """Validate and compile every file; raise RulesetInvalid listing all errors."""
    build = _Build(EVENT_TYPES if catalogue is None else catalogue, load_domain_facts() if facts is None else facts)
    version = ruleset_version(files)  # configuration files count towards the version
    build.config = {path: text for path, text in files.items() if is_config(path)}
    files = {path: text for path, text in files.items() if not is_config(path)}
    docs = build.parse(files)
    for file, doc in docs:
        build.collect_definitions(file, doc)
    build.compile_tables()
    build.compile_named()
    for file, doc in docs:
        build.compile_doc(file, doc)
    build.actions.check_rule_refs(build.rules)
    if build.errors:
        raise RulesetInvalid(build.errors)
    rules = tuple(build.rules)
    order = {r.id: i for i, r in enumerate(rules)}
    by_event: dict[str, list[ir.Rule]] = {}
    for rule in rules:
        for event_type in rule.events:
            by_event.setdefault(event_type, []).append(rule)
    by_event = {t: tuple(sorted(rs, key=lambda r: (-r.priority, order[r.id]))) for t, rs in by_event.items()}
    return ir.Ruleset(
        version,
        tuple(sorted(files)),
        rules,
        tuple(build.names),
        tuple(sorted(build.named_ir.items())),
        tuple(build.tests),
        by_event,
        tuple(suspicious.find(rules, load_domain_actions(), build.facts)),
    )


class _Build:
    def __init__(self, catalogue: Mapping, facts: Mapping):
        self.catalogue, self.facts = catalogue, facts
        self.errors: list[RuleError] = []
        self.named_src: dict[str, tuple[str, int, object]] = {}
        self.named_ir: dict[str, ir.Cond] = {}
        self.queues: dict[str, tuple[str, int]] = {}
        self.templates: dict[str, tuple[str, int, str]] = {}
        self.rules: list[ir.Rule] = []
        self.rule_sites: dict[str, tuple[str, int]] = {}
        self.names: list[str] = []
        self.tests: list[ir.RuleTest] = []
        self.config: dict[str, str] = {}  # policy/ and templates/ files, for reference checks
        self.tables_src: dict[str, tuple[str, int, object]] = {}
        self.tables: dict[str, ir.Table | None] = {}  # decision tables (None: broken), compiled first
        self.actions = ActionChecker(self)

    def reporter(self, file: str, rule_id: str):
        return lambda line, message: self.errors.append(RuleError(file, line, rule_id, message))

    def parse(self, files: Mapping[str, str]) -> list[tuple[str, object]]:
        docs = []
        for file in sorted(files):
            found, errors = load_documents(file, files[file])
            self.errors.extend(errors)
            docs.extend((file, doc) for doc in found if doc is not None)
        return docs

    def collect_definitions(self, file: str, doc) -> None:
        if not isinstance(doc, dict) or "definitions" not in doc:
            return
        node, line = doc["definitions"], line_of(doc, "definitions")
        data = load(DefinitionsSchema, node, line, self.reporter(file, "definitions"))
        if data is None:
            return
        for section, store in (
            ("conditions", self.named_src),
            ("queues", self.queues),
            ("templates", self.templates),
            ("tables", self.tables_src),
        ):
            items = data.get(section, {})
            sub = node.get(section)
            for i, name in enumerate(items):
                at = line_of(sub, i if section == "queues" else name, line)
                if name in store:
                    first = store[name]
                    self.errors.append(
                        RuleError(file, at, name, f"{section[:-1]} {name} is already defined at {first[0]}:{first[1]}")
                    )
                    continue
                value = items[name] if isinstance(items, dict) else None
                store[name] = (file, at, value) if section != "queues" else (file, at)

    def compile_tables(self) -> None:
        """Compile each decision table of definitions.tables (on client facts: any rule may use it)."""
        for name, (file, line, node) in self.tables_src.items():
            # A broken table stays known (None): a rule using it is told so, not "unknown table".
            self.tables[name] = tables.compile_table(name, node, line, self.scope(()), self.reporter(file, name))

    def scope(self, events: tuple[str, ...], subject: str = "client") -> Scope:
        return Scope(events, self.catalogue, self.facts, self.tables, subject, subject_facts())

    def compile_named(self) -> None:
        """Compile each named condition once where it is defined (any event may use it)."""
        for name, (file, line, node) in self.named_src.items():
            ctx = self.context(file, name, self.scope(()), (name,))
            cond = compile_condition(node, line, ctx)
            if cond is not None:
                self.named_ir[name] = cond

    def context(self, file: str, rule_id: str, scope: Scope, stack: tuple = ()) -> CondContext:
        ctx = CondContext(scope, self.reporter(file, rule_id), file=file, rule_id=rule_id)
        ctx.named = lambda name, line: self.use_named(ctx, name, line, stack)
        return ctx

    def use_named(self, ctx: CondContext, name: str, line: int, stack: tuple) -> ir.Cond | None:
        """Compile named condition `name` where a rule (or definition) uses it."""
        if name not in self.named_src:
            close = difflib.get_close_matches(name, list(self.named_src), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            ctx.error(
                line, f"unknown condition {name!r}{hint}; a condition compares a value, like `event.amount >= 10 USD`"
            )
            return None
        if name in stack:
            ctx.error(line, f"condition {name} refers to itself ({' -> '.join(stack + (name,))})")
            return None
        if stack == () and ctx.rule_id not in self.named_src and name not in self.named_ir:
            ctx.error(line, f"condition {name} has errors (see its definition)")
            return None
        def_file, def_line, node = self.named_src[name]
        inner = self.context(def_file, ctx.rule_id, ctx.scope, stack + (name,))
        messages: list[str] = []
        inner.error = lambda _line, message: messages.append(message)
        cond = compile_condition(node, def_line, inner)
        for message in messages:  # shown where the rule uses it: the scope is the rule's
            ctx.error(line, message if message.startswith("condition ") else f"in condition {name}: {message}")
        return cond

    def compile_doc(self, file: str, doc) -> None:
        report = self.reporter(file, "-")
        if not isinstance(doc, dict):
            report(line_of(doc, 0, 1), "a rule file holds a mapping with ruleset:, rules: ...")
        elif "rules" in doc or ("ruleset" in doc and "tests" not in doc):
            self.compile_ruleset_doc(file, doc)
        elif "tests" in doc:
            data = load(TestsDocSchema, doc, doc.line, report)
            if data is not None:
                self.add_tests(file, doc.get("tests"), data.get("ruleset", "-"))
        elif "definitions" in doc:
            load(DefinitionsDocSchema, doc, doc.line, report)
        else:
            report(doc.line, "a rule file starts with `ruleset:` (or holds only `definitions:` or `tests:`)")

    def compile_ruleset_doc(self, file: str, doc) -> None:
        data = load(RulesetSchema, doc, doc.line, self.reporter(file, "-"))
        if data is None:
            return
        self.names.append(data["ruleset"])
        rules = doc["rules"]
        for i, node in enumerate(rules):
            self.compile_rule(file, data["ruleset"], node, line_of(rules, i))
        if "tests" in doc:
            self.add_tests(file, doc["tests"], data["ruleset"])

    def add_tests(self, file: str, node, ruleset: str) -> None:
        parsed = ruletests.parse_tests(
            node,
            file,
            ruleset,
            self.catalogue,
            self.facts,
            self.reporter(file, ruleset),
            report_as=lambda name: self.reporter(file, name),
        )
        self.tests.extend(parsed)

    def compile_rule(self, file: str, ruleset: str, node, line: int) -> None:
        rule_id = node.get("id") if isinstance(node, dict) and isinstance(node.get("id"), str) else "-"
        report = self.reporter(file, rule_id)
        data = load(RuleSchema, node, line, report)
        if data is None:
            return
        if rule_id in self.rule_sites:
            first = self.rule_sites[rule_id]
            report(line_of(node, "id", line), f"duplicate rule id (first defined at {first[0]}:{first[1]})")
            return
        self.rule_sites[rule_id] = (file, line_of(node, "id", line))
        if not timing.check_keys(node, line, report):
            return
        kind = timing.kind_of(node)
        if kind != "event":
            self.compile_timed(file, ruleset, node, line, data, kind)
            return
        events = self.event_types(data["when"], node, line, report)
        if events is None:
            return
        subject = self.subject_of(events, node, line, report)
        if subject is None:
            return
        if subject != "client" and "after" in data:  # delays are timers, and timers are a client's
            report(line_of(node, "after", line), f"after: a rule about a {noun(subject)} acts at once (no delay)")
            return
        ctx = self.context(file, rule_id, self.scope(events, subject))
        cond = self.optional_condition(node, "if", line, ctx)
        unless = self.optional_condition(node, "unless", line, ctx)
        if "unless" in node and "after" not in data:
            report(line_of(node, "unless", line), "unless: only applies to a delayed rule (add after:)")
        actions, watched, shown = self.actions.compile_all(node.get("then"), line_of(node, "then", line), ctx)
        if None in (cond, actions) or ("unless" in node and unless is None):
            return
        reads = values_of(cond) | (values_of(unless) if unless is not None else frozenset()) | watched
        self.rules.append(
            ir.Rule(
                rule_id,
                data["description"].strip(),
                ruleset,
                file,
                line,
                events,
                cond,
                actions,
                data["priority"],
                data.get("after"),
                unless,
                reads,
                shown,
                frozenset(v for v in reads if v.source == "count"),
            )
        )

    def compile_timed(self, file: str, ruleset: str, node, line: int, data: dict, kind: str) -> None:
        """Compile an absence or scheduled rule: no triggering event, `if:` on client facts."""
        report = self.reporter(file, data["id"])
        absent = timing.compile_absent(node, line, self.catalogue, report) if kind == "absent" else None
        schedule = timing.compile_schedule(node, line, report) if kind == "schedule" else None
        ctx = self.context(file, data["id"], self.scope(()))
        cond = self.optional_condition(node, "if", line, ctx)
        actions, watched, shown = self.actions.compile_all(node.get("then"), line_of(node, "then", line), ctx)
        if None in (cond, actions) or (absent is None and schedule is None):
            return
        reads = values_of(cond) | watched
        if not (
            timing.check_no_event(kind, reads, line_of(node, "if", line), report)
            and timing.check_no_event(kind, shown, line_of(node, "then", line), report)
        ):
            return
        self.rules.append(
            ir.Rule(
                data["id"],
                data["description"].strip(),
                ruleset,
                file,
                line,
                (),
                cond,
                actions,
                data["priority"],
                None,
                None,
                reads,
                shown,
                frozenset(v for v in reads if v.source == "count"),
                absent,
                schedule,
            )
        )

    def optional_condition(self, node, key: str, line: int, ctx: CondContext):
        if key not in node:
            return ir.TRUE if key == "if" else None
        return compile_condition(node[key], line_of(node, key, line), ctx)

    def subject_of(self, events: tuple[str, ...], node, line: int, report) -> str | None:
        """Return what the rule is about (the subject of its events); they must agree."""
        kinds = {t: getattr(self.catalogue[t], "subject", "client") for t in events}
        if len(set(kinds.values())) == 1:
            return next(iter(kinds.values()))
        shown = "; ".join(f"{t} is about a {noun(k)}" for t, k in kinds.items())
        report(
            line_of(node, "when", line), f"when: names events about different subjects ({shown}): write one rule each"
        )
        return None

    def event_types(self, names: list[str], node, line: int, report) -> tuple[str, ...] | None:
        at = line_of(node, "when", line)
        unknown = [n for n in names if n not in self.catalogue]
        for name in unknown:
            close = difflib.get_close_matches(name, list(self.catalogue), n=1)
            report(at, f"unknown event type {name!r}" + (f" (did you mean {close[0]}?)" if close else ""))
        return None if unknown else tuple(dict.fromkeys(names))
