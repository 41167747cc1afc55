"""The onboarding policy (rules/policy/kyc.yaml): required documents and fields, reasons, labels."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from engine.events.catalogue import CLIENT_TYPES, DOCUMENT_TYPES
from engine.rules import api as rules_api
from engine.rules.problems import Problem, joined

POLICY_FILE = Path("policy") / "kyc.yaml"
# Client record attributes a policy may require.
PROFILE_FIELDS = ("email", "first_name", "last_name", "country", "declared_income")
COUNTRY = validate.Regexp(r"^[A-Z]{2}$", error="must be an ISO 3166-1 alpha-2 code like DE")
CODE = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="must be a lower-case code like identity_mismatch")
_DOC = fields.Str(validate=validate.OneOf(DOCUMENT_TYPES))


class PolicyError(ValueError):
    """The policy file is invalid; `problems` names file:line and what is wrong."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(joined(problems))


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Required(_Strict):
    documents = fields.List(_DOC, required=True)
    fields_ = fields.List(fields.Str(validate=validate.OneOf(PROFILE_FIELDS)),
                          data_key="fields", load_default=list)


class _Country(_Strict):
    documents = fields.List(_DOC, required=True)


class _Label(_Strict):
    documents = fields.List(_DOC, required=True, validate=validate.Length(min=1))
    text = fields.Str(required=True, validate=validate.Length(1, 1000))


class _Policy(_Strict):
    required = fields.Dict(keys=fields.Str(validate=validate.OneOf(CLIENT_TYPES)),
                           values=fields.Nested(_Required), required=True)
    countries = fields.Dict(keys=fields.Str(validate=COUNTRY), values=fields.Nested(_Country),
                            load_default=dict)
    country_risk = fields.Dict(keys=fields.Str(validate=validate.OneOf(("high", "medium"))),
                               values=fields.List(fields.Str(validate=COUNTRY)), load_default=dict)
    reason_codes = fields.Dict(keys=fields.Str(validate=CODE), values=fields.Str(),
                               required=True, validate=validate.Length(min=1))
    retry_labels = fields.Dict(keys=fields.Str(), values=fields.Nested(_Label), load_default=dict)


@dataclass(frozen=True)
class Policy:
    required: dict
    countries: dict
    country_risk: dict
    reason_codes: dict
    retry_labels: dict

    def documents_for(self, client_type: str | None, country: str | None) -> list[str]:
        """Return the document types required of this client type and country, in order."""
        docs = list(self.required.get(client_type or "individual", {}).get("documents", []))
        for doc in self.countries.get(country or "", {}).get("documents", []):
            if doc not in docs:
                docs.append(doc)
        return docs

    def fields_for(self, client_type: str | None) -> list[str]:
        """Return the profile fields required of this client type."""
        return list(self.required.get(client_type or "individual", {}).get("fields_", []))

    def risk_of(self, country: str | None) -> str:
        """Return the policy's risk level for a country: high, medium or low."""
        for level in ("high", "medium"):
            if country and country in self.country_risk.get(level, []):
                return level
        return "low"

    def explain_labels(self, labels) -> tuple[list[str], list[str]]:
        """Return (document types asked for again, client-facing explanations) for retry labels."""
        docs, texts = [], []
        for label in labels or ():
            known = self.retry_labels.get(label)
            if known:
                docs.extend(d for d in known["documents"] if d not in docs)
                texts.append(known["text"])
        return docs, texts


def _line_of(node, path) -> int:
    """Return the 1-based line of the deepest node on `path` that exists in the YAML tree."""
    line = node.start_mark.line + 1
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            break
        match = [(k, v) for k, v in node.value if k.value == str(key)]
        if not match:
            break
        key_node, node = match[0]
        line = key_node.start_mark.line + 1
    return line


def _errors(messages, path=()):
    """Flatten marshmallow's nested messages into (path, text) pairs."""
    if isinstance(messages, dict):
        for key, sub in messages.items():
            yield from _errors(sub, path + (key,) if key not in ("value", "key") else path)
    else:
        for text in messages:
            yield path, text


def parse(text: str, file: str) -> Policy:
    """Parse and validate policy text; raise PolicyError with every problem at its line."""
    try:
        tree, raw = yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise PolicyError([Problem(file, line, "", f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(raw, dict):
        raise PolicyError([Problem(file, 1, "", "the policy is a mapping with required:, reason_codes: ...")])
    try:
        data = _Policy().load(raw)
    except ValidationError as exc:
        raise PolicyError([Problem(file, _line_of(tree, path), ".".join(map(str, path)) or "policy",
                                   text.rstrip(".")) for path, text in _errors(exc.messages)]) from None
    return Policy(**data)


_cache: dict[str, tuple[float, Policy]] = {}


# The rules tree lookup is the rules runtime's (notifications use it too).
locate = rules_api.locate


def load(rules_dir: str | Path) -> Policy:
    """Load the policy under `rules_dir`, re-reading it only when the file changed."""
    path = locate(rules_dir, POLICY_FILE)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise PolicyError([Problem(str(path), 1, "", "the onboarding policy file is missing")]) from None
    cached = _cache.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    policy = parse(path.read_text(encoding="utf-8"), str(path))
    _cache[str(path)] = (mtime, policy)
    return policy


_by_version: dict[str, Policy] = {}


def for_session(session) -> Policy:
    """Load the policy of the active ruleset version (or of the configured rules directory)."""
    from engine.rules.api import configured_rules_dir, rule_files
    files = rule_files(session)
    return load(configured_rules_dir(session)) if files is None else from_files(files)


def from_files(files) -> Policy:
    """Return the policy among a version's files (`engine.rules.files.RuleFiles`), parsed once."""
    if files.version not in _by_version:
        text = files.text(POLICY_FILE)
        if text is None:
            raise PolicyError([Problem(str(POLICY_FILE), 1, "", "the onboarding policy file is missing")])
        _by_version[files.version] = parse(text, str(POLICY_FILE))
    return _by_version[files.version]


def check_config(files) -> list[Problem]:
    """Return the problems of the onboarding policy among `files` (activation checks it)."""
    text = files.text(POLICY_FILE)
    if text is None:
        return []
    try:
        parse(text, str(POLICY_FILE))
    except PolicyError as exc:
        return exc.problems
    return []
