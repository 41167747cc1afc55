"""The OpenAPI 3 document of the JSON API (a test checks it covers every /api route)."""
from __future__ import annotations

from web.task_actions import ACTIONS

ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
TASK = {
    "type": "object",
    "required": ["id", "queue", "status", "priority", "title", "client", "rule_id",
                 "ruleset_version", "created_at", "due_at", "assignee", "explanation"],
    "properties": {
        "id": {"type": "integer"}, "queue": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "in_progress", "waiting", "done", "dismissed"]},
        "priority": {"type": "string", "enum": ["low", "normal", "high", "urgent"]},
        "title": {"type": "string"}, "description": {"type": "string", "nullable": True},
        "client": {"type": "string", "nullable": True},
        "rule_id": {"type": "string", "nullable": True},
        "ruleset_version": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "due_at": {"type": "string", "format": "date-time", "nullable": True},
        "closed_at": {"type": "string", "format": "date-time", "nullable": True},
        "assignee": {"type": "string", "nullable": True},
        "lease_expires_at": {"type": "string", "format": "date-time", "nullable": True},
        "waiting_for": {"type": "string", "nullable": True},
        "resolution": {"type": "string", "nullable": True},
        "overdue": {"type": "boolean"},
        "explanation": {"type": "object", "nullable": True, "description":
                        "rule, ruleset_version, triggering events and the fact values read"},
        "history": {"type": "array", "items": {"type": "object"}},
        "comments": {"type": "array", "items": {"type": "object"}},
    },
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    text = {400: "bad input (the error says where and what)", 401: "no or bad bearer token",
            403: "your role may not do this", 404: "not found or not visible to you",
            409: "the task's state does not allow it", 501: "the domain is not installed"}
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


LIST_PARAMS = [
    _query("queue", "one queue you may see"),
    _query("status", "a status, open_any (any open status) or any (default)"),
    _query("client", "client reference"), _query("rule", "rule id"),
    _query("assignee", "an email, `me`, or `none` for unassigned"),
    _query("priority", "low, normal, high or urgent"),
    _query("due", "overdue, today, week or none"),
    _query("sort", "newest (default), oldest, due or priority"),
    _query("view", "shortcut: mine, unassigned or overdue"),
    _query("limit", "page size, 1-500 (default 100)", {"type": "integer"}),
    _query("after", "the next_after cursor of the previous page"),
]


def _action_body() -> dict:
    props = {f: {"type": "array", "items": {"type": "string"}} if f == "document_types"
             else {"type": "string"} for a in ACTIONS.values() for f in a.fields}
    return {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "properties": props}}}}


def _paths() -> dict:
    task_id = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    applicant = {"name": "applicant_id", "in": "path", "required": True,
                 "schema": {"type": "string", "format": "uuid"}}
    link = {"type": "object", "properties": {k: {"type": "string"} for k in (
        "applicant_id", "client", "source", "linked_by", "linked_at")}}
    return {
        "/api/events": {"post": {
            "summary": "Accept canonical events (one object or a list)", "tags": ["events"],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}}},
            "responses": {"202": _json({"type": "object"}, "accepted or duplicate, per event"),
                          **_errors(400, 401, 403)}}},
        "/api/tasks": {
            "get": {"summary": "List tasks", "tags": ["tasks"], "parameters": LIST_PARAMS,
                    "responses": {"200": _json({"type": "object", "properties": {
                        "tasks": {"type": "array", "items": _ref("Task")},
                        "next_after": {"type": "string", "nullable": True}}}),
                        **_errors(400, 401, 403)}},
            "post": {"summary": "Create a manual task", "tags": ["tasks"],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"type": "object", "required": ["queue", "title"],
                                    "properties": {k: {"type": "string"} for k in (
                                        "queue", "title", "client", "priority", "description")}}}}},
                     "responses": {"201": _json(_ref("Task"), "created"),
                                   **_errors(400, 401, 403)}}},
        "/api/tasks/counts": {"get": {
            "summary": "Open-task counts per queue, mine, unassigned, overdue", "tags": ["tasks"],
            "responses": {"200": _json({"type": "object"}), **_errors(401, 403)}}},
        "/api/tasks/bulk": {"post": {
            "summary": "Claim, assign, release, resolve or dismiss many tasks", "tags": ["tasks"],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["op", "ids"], "properties": {
                    "op": {"type": "string", "enum": ["claim", "release", "assign", "resolve",
                                                      "dismiss"]},
                    "ids": {"type": "array", "items": {"type": "integer"}},
                    "assignee": {"type": "string"}, "resolution": {"type": "string"},
                    "reason": {"type": "string"}}}}}},
            "responses": {"200": _json({"type": "object", "description":
                                        "results: task id -> ok or why it was refused"}),
                          **_errors(400, 401, 403)}}},
        "/api/tasks/{task_id}": {"get": {
            "summary": "One task with history, comments and explanation", "tags": ["tasks"],
            "parameters": [task_id],
            "responses": {"200": _json(_ref("Task")), **_errors(401, 403, 404)}}},
        "/api/tasks/{task_id}/{action}": {"post": {
            "summary": "Act on a task", "tags": ["tasks"],
            "parameters": [task_id, {"name": "action", "in": "path", "required": True,
                                     "schema": {"type": "string", "enum": list(ACTIONS)}}],
            "requestBody": _action_body(),
            "responses": {"200": _json(_ref("Task")), **_errors(400, 401, 403, 404, 409, 501)}}},
        "/api/clients/{ref}": {"get": {
            "summary": "The whole client profile", "tags": ["clients"],
            "parameters": [{"name": "ref", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": _json({"type": "object"}), **_errors(401, 403, 404)}}},
        "/api/onfido/applicants/{applicant_id}": {
            "get": {"summary": "Which client an Onfido applicant is linked to", "tags": ["kyc"],
                    "parameters": [applicant],
                    "responses": {"200": _json(link), **_errors(401, 403, 404)}},
            "put": {"summary": "Link an Onfido applicant to a client (audited)", "tags": ["kyc"],
                    "parameters": [applicant],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["client"], "properties": {
                            "client": {"type": "string"},
                            "replace": {"type": "boolean", "default": False}}}}}},
                    "responses": {"200": _json(link), **_errors(400, 401, 403, 409)}}},
        "/api/openapi.json": {"get": {
            "summary": "This document", "tags": ["meta"], "security": [],
            "responses": {"200": _json({"type": "object"})}}},
    }


def document() -> dict:
    """Return the OpenAPI 3.0 document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "fxcrm API", "version": "1",
                 "description": "Events in; tasks and client profiles out. Bearer tokens "
                                "from `fxcrm tokens create EMAIL`."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Task": TASK, "Error": ERROR},
        },
    }
