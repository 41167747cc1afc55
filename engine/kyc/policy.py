"""The onboarding policy (rules/policy/kyc.yaml): required documents and fields, reasons, labels.

The file is read through the rules API's `PolicyFile` (the active version's, parsed once
per version); its YAML keeps the line of every key, so an error names the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from engine.events.catalogue import CLIENT_TYPES, DOCUMENT_TYPES
from engine.rules import api as rules_api
from engine.rules.api import PolicyError
from engine.rules.problems import Problem

POLICY_FILE = Path("policy") / "kyc.yaml"
# Client record attributes a policy may require.
PROFILE_FIELDS = ("email", "first_name", "last_name", "country", "declared_income")
COUNTRY = validate.Regexp(r"^[A-Z]{2}$", error="must be an ISO 3166-1 alpha-2 code like DE")
CODE = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="must be a lower-case code like identity_mismatch")
_DOC = fields.Str(validate=validate.OneOf(DOCUMENT_TYPES))
__all__ = ["POLICY_FILE", "Policy", "PolicyError", "check_config", "for_session", "from_files", "load", "parse"]


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Required(_Strict):
    documents = fields.List(_DOC, required=True)
    fields_ = fields.List(fields.Str(validate=validate.OneOf(PROFILE_FIELDS)), data_key="fields", load_default=list)


class _Country(_Strict):
    documents = fields.List(_DOC, required=True)


class _Label(_Strict):
    documents = fields.List(_DOC, required=True, validate=validate.Length(min=1))
    text = fields.Str(required=True, validate=validate.Length(1, 1000))


class _Policy(_Strict):
    required = fields.Dict(
        keys=fields.Str(validate=validate.OneOf(CLIENT_TYPES)), values=fields.Nested(_Required), required=True
    )
    countries = fields.Dict(keys=fields.Str(validate=COUNTRY), values=fields.Nested(_Country), load_default=dict)
    country_risk = fields.Dict(
        keys=fields.Str(validate=validate.OneOf(("high", "medium"))),
        values=fields.List(fields.Str(validate=COUNTRY)),
        load_default=dict,
    )
    reason_codes = fields.Dict(
        keys=fields.Str(validate=CODE), values=fields.Str(), required=True, validate=validate.Length(min=1)
    )
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
    raw = rules_api.read_mapping(file, text, "the policy is a mapping with required:, reason_codes: ...")
    try:
        data = _Policy().load(raw)
    except ValidationError as exc:
        raise PolicyError(
            [
                rules_api.problem_at(file, raw, path, message.rstrip("."), ".".join(map(str, path)) or "policy")
                for path, message in _errors(exc.messages)
            ]
        ) from None
    return Policy(**data)


POLICY = rules_api.PolicyFile(str(POLICY_FILE), parse, missing="the onboarding policy file is missing")


def load(rules_dir: str | Path) -> Policy:
    """Load the policy under `rules_dir` (or the rules tree it is in), re-read only when it changed."""
    return POLICY.from_folder(rules_dir)


def for_session(session) -> Policy:
    """Load the policy of the active ruleset version (or of the configured rules directory)."""
    return POLICY.for_session(session)


def from_files(files) -> Policy:
    """Return the policy among a version's files (`engine.rules.files.RuleFiles`), parsed once."""
    return POLICY.from_files(files)


def check_config(files) -> list[Problem]:
    """Return the problems of the onboarding policy among `files` (activation checks it)."""
    return POLICY.check(files)
