"""Decision tables (`definitions.tables`): thresholds and outcomes by country, client type, ...

```yaml
definitions:
  tables:
    large_deposit:
      hit: first                       # first: the first row that holds; collect: every row that holds
      inputs: {country: client.country, type: client.client_type}
      outputs: [threshold, queue, priority]
      rows:
        - {country: [GB, IE], type: corporate, threshold: 50000 USD, queue: compliance, priority: high}
        - {country: GB, threshold: 10000 USD, queue: compliance, priority: normal}
        - {threshold: 5000 USD, queue: finance, priority: normal}     # no inputs: the default
```

A condition reads an output as a value (`event.amount > table.large_deposit.threshold`), an
action parameter takes one (`queue: table.large_deposit.queue`). Compiling is pure; a
lookup reads the input facts through the FactLoader and picks rows with the reference
evaluator, so a cell compares exactly as the same condition would.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from marshmallow import Schema, fields, validate

from engine.rules import ir, py_evaluator
from engine.rules.conditions import CondError, _build, _compare, _lit, _one_of, _split_op, values_of
from engine.rules.literals import Literal, epoch
from engine.rules.paths import PathError, Ref, Scope, resolve
from engine.rules.schemas import Strict, load
from engine.rules.yaml_lines import line_of
from engine.values import Money

if TYPE_CHECKING:
    from engine.rules.evaluation import FactLoader

Node = Mapping[str, object]  # a table as read from YAML (a LineDict)
Report = Callable[[int, str], None]  # report(line, message): a compile error
Reader = Callable[[Mapping[str, object], Mapping[str, object], int], dict[str, object]]

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
OUTPUT_REF = re.compile(r"^table\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)$")
_UNITS = {"money": "money", "number": "decimal", "text": "string", "bool": "boolean", "duration": "string"}
_NAME_RULE = validate.Regexp(NAME, error="must be lower-case letters, digits and _ (like large_deposit)")


class TableSchema(Strict):
    hit = fields.Str(required=True, validate=validate.OneOf(("first", "collect")))
    inputs = fields.Dict(keys=fields.Str(validate=_NAME_RULE), values=fields.Str(), required=True)
    outputs = fields.List(fields.Str(validate=_NAME_RULE), required=True, validate=validate.Length(min=1))
    rows = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1))
    no_match = fields.Str(validate=validate.OneOf(("missing",)))


def compile_table(name: str, node: Node, line: int, scope: Scope, report: Report) -> ir.Table | None:
    """Compile one table; report each problem at its line; None if any."""
    if not NAME.match(name):
        report(line, f"table {name!r}: a table name is lower-case letters, digits and _ (like large_deposit)")
        return None
    data = load(TableSchema, node, line, report)
    if data is None:
        return None
    errors: list[str] = []

    def input_problem(at: int, msg: str) -> None:
        errors.append(msg)
        report(at, msg)

    inputs = _inputs(data["inputs"], node, line, scope, input_problem)
    clash = sorted(set(inputs) & set(data["outputs"]))
    for column in clash:
        errors.append(column)
        report(line_of(node, "outputs", line), f"{column} is both an input and an output")
    if errors:
        return None
    rows, units = _rows(data, node, line, inputs, report)
    if rows is None:
        return None
    default = any(row.when == ir.TRUE for row in rows)
    if not default and "no_match" not in data:
        report(
            line_of(node, "rows", line),
            "say what happens when no row matches: end with a row that gives "
            "no inputs (the default), or write `no_match: missing` (the outputs "
            "are then missing and every comparison on them is false)",
        )
        return None
    return ir.Table(
        name,
        data["hit"],
        tuple(ref.value for ref in inputs.values()),
        tuple((c, units.get(c, "string")) for c in data["outputs"]),
        tuple(rows),
        default,
    )


def _inputs(given: Mapping[str, str], node: Node, line: int, scope: Scope, report: Report) -> dict[str, Ref]:
    found: dict[str, Ref] = {}
    where = node.get("inputs") or {}
    for column, path in given.items():
        at = line_of(where, column, line)
        try:
            ref = resolve(path, scope)
        except PathError as exc:
            report(at, f"input {column}: {exc}")
            continue
        if ref.value.source not in ("client", "count"):
            report(at, f"input {column}: a table reads client facts and aggregates, not {path}")
            continue
        found[column] = ref
    return found


def _rows(
    data: Mapping[str, Any], node: Node, line: int, inputs: dict[str, Ref], report: Report
) -> tuple[list[ir.TableRow] | None, dict[str, str]]:
    """Compile the rows (`data`: the table as TableSchema loads it); return (rows, output
    units) or (None, {}) after reporting."""
    columns = list(inputs) + list(data["outputs"])
    rows: list[ir.TableRow] = []
    kinds: dict[str, str] = {}
    failed = False
    rows_node = node["rows"]
    for i, row in enumerate(data["rows"]):
        at = line_of(rows_node, i, line)
        if not isinstance(row, dict):
            report(at, f"row {i + 1}: a row is a mapping of columns, like {{{columns[0]}: ...}}")
            failed = True
            continue
        bad = [c for c in row if c not in columns]
        for column in bad:
            close = difflib.get_close_matches(str(column), columns, n=1)
            hint = f"did you mean {close[0]}?" if close else f"columns: {', '.join(columns)}"
            report(line_of(row, column, at), f"row {i + 1}: unknown column {column!r} ({hint})")
        try:
            when = _cells(row, inputs)
            outputs = _outputs(row, data["outputs"], kinds, i)
        except CondError as exc:
            report(at, f"row {i + 1}: {exc}")
            failed = True
            continue
        failed = failed or bool(bad)
        rows.append(ir.TableRow(at, when, outputs))
    if failed:
        return None, {}
    if data["hit"] == "first":
        catch_all = next((r for r in rows if r.when == ir.TRUE), None)
        if catch_all is not None and catch_all is not rows[-1]:
            report(
                catch_all.line,
                "a row without inputs matches every client: with hit: first the rows "
                "below it are never used (put the default last)",
            )
            return None, {}
    return rows, {c: _UNITS[k] for c, k in kinds.items()}


def _cell_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_cell_text(v) for v in value) + "]"
    return str(value)


def _cells(row: Mapping[str, object], inputs: dict[str, Ref]) -> ir.Cond:
    """Compile a row's input cells: `GB` (==), `[GB, IE]` (in), `">= 1000 USD"`, `has pro`, `-` or none (any)."""
    tests: list[ir.Cond] = []
    for column, ref in inputs.items():
        if column not in row or row[column] in (None, "-"):
            continue
        text = _cell_text(row[column])
        shown = f"{ref.value.key} {text}"
        if isinstance(row[column], list):
            tests.append(_one_of(ref, _lit(text), f"{ref.value.key} in {text}"))
        elif isinstance(row[column], str) and re.match(
            r"^(==|!=|<=|>=|<|>|not in |in |between |older_than "
            r"|within |has |contains |starts_with |ends_with )",
            text,
        ):
            op, rest = _split_op(text)
            tests.append(_build(ref, op, rest, shown))
        else:
            tests.append(_compare(ref, "==", _lit(text), f"{ref.value.key} == {text}"))
    return ir.TRUE if not tests else (tests[0] if len(tests) == 1 else ir.All(tuple(tests)))


def _outputs(
    row: Mapping[str, object], names: list[str], kinds: dict[str, str], index: int
) -> tuple[tuple[str, object], ...]:
    out: list[tuple[str, object]] = []
    for column in names:
        if column not in row or row[column] is None:
            continue
        lit = _lit(_cell_text(row[column]))
        kind = lit.kind
        if kind not in _UNITS:
            raise CondError(f"{column}: an output is money, a number, text or true/false, not {lit.describe()}")
        first = kinds.setdefault(column, kind)
        if first != kind:
            raise CondError(f"{column} is {lit.describe()} here but {first} in the rows above")
        out.append((column, _raw(lit, _cell_text(row[column]))))
    return tuple(out)


def _raw(lit: Literal, text: str) -> object:
    if lit.kind == "money" and isinstance(lit.value, tuple):  # (Decimal, currency)
        return Money(Decimal(lit.value[0]), lit.value[1])
    if lit.kind == "number" and isinstance(lit.value, Decimal):
        return Decimal(lit.value)
    if lit.kind == "duration":
        return text  # kept as written (`4h`): an action's duration parameter reads it
    return lit.value


# -- run time -------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _reader(table: ir.Table) -> Reader:
    """Return the reader of what the table's cells test (derived values like `has pro` too)."""
    from engine.rules.reading import build_reader

    return build_reader(frozenset[ir.Value]().union(*(values_of(row.when) for row in table.rows)))


def lookup(value: ir.Value, loader: FactLoader) -> object:
    """Return the output `value` names for the loader's client (None when no row gives it)."""
    table = value.table
    assert table is not None
    column = value.path.split(".", 1)[1]
    raw = loader.load(table.inputs)
    values = _reader(table)({"data": {}}, raw, epoch(loader.at))
    hits = [dict(row.outputs) for row in table.rows if py_evaluator.holds(row.when, values)]
    if table.hit == "first":
        return hits[0].get(column) if hits else None
    return [hit[column] for hit in hits if column in hit]


# -- action parameters ---------------------------------------------------------------------------


def bind_params(
    params: object, scope: Scope, report: Callable[[str, str], None]
) -> tuple[Sequence[object], dict[str, ir.Value]] | None:
    """Find parameters written `table.NAME.COLUMN`; return (one params dict per distinct row value
    to check with the action's schema, {parameter: Value}), or None after reporting."""
    if not isinstance(params, dict):
        return [params], {}
    bound: dict[str, ir.Value] = {}
    for key, text in params.items():
        if isinstance(text, str) and OUTPUT_REF.match(text.strip()):
            try:
                ref = resolve(text.strip(), scope)
            except PathError as exc:
                report(key, str(exc))
                return None
            table = ref.value.table
            assert table is not None
            if table.hit != "first":
                report(key, f"{text} collects a list (hit: collect): a parameter takes one value")
                return None
            if not table.default:
                report(
                    key,
                    f"table {table.name} has no default row: a parameter needs a value for every client "
                    f"(end the table with a row that gives no inputs)",
                )
                return None
            missing = [row for row in table.rows if ref.value.path.split(".", 1)[1] not in dict(row.outputs)]
            if missing:
                report(
                    key,
                    f"table {table.name}: the row at line {missing[0].line} gives no "
                    f"{ref.value.path.split('.', 1)[1]}: a parameter needs it in every row",
                )
                return None
            bound[key] = ref.value
    if not bound:
        return [params], {}
    # Each row's value is checked as the parameter (a bad queue in row 3 is an error now,
    # not when a client matches row 3), the other bound parameters at their first row's.
    base = dict(params, **{key: _param_text(_column_values(value)[0]) for key, value in bound.items()})
    variants = [base] + [
        dict(base, **{key: _param_text(raw)}) for key, value in bound.items() for raw in _column_values(value)[1:]
    ]
    return variants, bound


def _column_values(value: ir.Value) -> list[object]:
    assert value.table is not None
    column = value.path.split(".", 1)[1]
    return [dict(row.outputs).get(column) for row in value.table.rows]


def _param_text(raw: object) -> object:
    if isinstance(raw, Money):
        return f"{raw.amount} {raw.currency}"
    if isinstance(raw, Decimal):
        return str(raw)
    return raw


def fill_params(
    params: dict[str, object],
    bound: tuple[tuple[str, str], ...],
    schema: type[Schema],
    facts: Mapping[str, object],
) -> dict[str, object]:
    """Replace the table-bound parameters with the client's row values (as the schema loads them)."""
    if not bound:
        return params
    by_key = {f.data_key or name: f for name, f in schema().fields.items()}
    out = dict(params)
    for key, table_key in bound:
        raw = facts.get(table_key)
        field = by_key[key]
        out[key] = field.deserialize(_param_text(raw)) if raw is not None else params.get(key)
    return out
