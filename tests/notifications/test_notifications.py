"""Notifications: rendered from templates, recorded, and sent through a real SMTP server."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import select

from engine.clients import service as clients_service
from engine.db import get_database, unit_of_work
from engine.notifications import sender, service
from engine.notifications.models import Notification
from tests.conftest import make_config
from tests.kyc.helpers import ingest, profile, registered
from tests.notifications.smtp_server import SmtpServer


def _send(database, ref="C1", template="kyc-approved", **kwargs) -> int:
    with unit_of_work(database) as session:
        client = clients_service.get_by_ref(session, ref)
        return service.send(session, client=client, template=template, **kwargs).id


def _note(database, note_id) -> Notification:
    with unit_of_work(database) as session:
        return session.get(Notification, note_id)


def _with_smtp(database, url):
    return get_database(make_config(database.config.database_url, smtp_url=url, mail_from="onboarding@broker.test"))


@contextmanager
def _refused_email(database):
    """Client C1 and one email a real SMTP server refuses: yield (server, database, note id)."""
    ingest(database, registered("C1"))
    with SmtpServer() as smtp:
        db = _with_smtp(database, smtp.url)
        smtp.refuse = True
        yield smtp, db, _send(db)


def test_without_smtp_a_notification_is_recorded_only(database):
    ingest(database, registered("C1", first_name="Ana"))
    note = _note(database, _send(database))
    assert (note.status, note.channel, note.recipient) == ("recorded", "email", "c1@example.com")
    assert note.subject == "Your account is approved"
    assert note.body.startswith("Dear Ana,")
    assert [n["template"] for n in profile(database, "C1")["notifications"]] == ["kyc-approved"]


def test_email_goes_through_a_real_smtp_server_after_commit(database):
    ingest(database, registered("C1", first_name="Ana"))
    with SmtpServer() as smtp:
        note_id = _send(_with_smtp(database, smtp.url))
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert (mail["from"], mail["to"]) == ("onboarding@broker.test", ["c1@example.com"])
    assert mail["message"]["Subject"] == "Your account is approved"
    assert "Dear Ana," in mail["message"].get_payload()
    note = _note(database, note_id)
    assert (note.status, note.attempts, note.error) == ("sent", 1, None)
    assert note.sent_at is not None


def test_smtp_login_uses_the_credentials_in_the_url(database):
    ingest(database, registered("C1"))
    with SmtpServer(credentials=("mailer", "s3cret:x")) as smtp:
        url = smtp.url.replace("smtp://", "smtp://mailer:s3cret%3Ax@")
        note_id = _send(_with_smtp(database, url))
    assert smtp.logins == [("mailer", "s3cret:x")]
    assert _note(database, note_id).status == "sent"


def test_a_refused_email_stays_queued_then_fails_after_three_attempts(database):
    with _refused_email(database) as (smtp, db, note_id):
        note = _note(database, note_id)
        assert (note.status, note.attempts) == ("queued", 1)
        assert "451" in note.error
        assert service.deliver_pending(db) == {"queued": 1}
        assert service.deliver_pending(db) == {"failed": 1}
        assert service.deliver_pending(db) == {}
    assert _note(database, note_id).status == "failed"
    assert smtp.messages == []


def test_a_queued_email_is_sent_by_deliver_pending(database):
    with _refused_email(database) as (smtp, db, note_id):
        smtp.refuse = False
        assert service.deliver_pending(db) == {"sent": 1}
    assert len(smtp.messages) == 1
    assert _note(database, note_id).status == "sent"


def test_a_client_without_email_is_recorded_as_failed(database):
    ingest(database, registered("C1"))
    with unit_of_work(database) as session:
        clients_service.get_by_ref(session, "C1").email = None
    note = _note(database, _send(_with_smtp(database, "smtp://127.0.0.1:9")))
    assert (note.status, note.error) == ("failed", "the client has no email address")


def test_other_channels_are_recorded(database):
    ingest(database, registered("C1"))
    note = _note(database, _send(database, channel="sms"))
    assert (note.status, note.recipient) == ("recorded", None)


def test_the_same_dedup_key_never_sends_twice(database):
    ingest(database, registered("C1"))
    first = _send(database, dedup_key="rule:x:event:1")
    assert _send(database, dedup_key="rule:x:event:1") == first
    with unit_of_work(database) as session:
        assert len(session.scalars(select(Notification)).all()) == 1


def test_unknown_template_or_channel_is_a_clear_error(database):
    ingest(database, registered("C1"))
    with pytest.raises(service.NotificationError, match=r"rules/templates/nope.yaml: no such notification template"):
        _send(database, template="nope")
    with pytest.raises(service.NotificationError, match="unknown channel 'fax'"):
        _send(database, channel="fax")


def test_a_template_reading_an_unknown_value_fails_with_the_file(database, tmp_path):
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "kyc.yaml").write_text(open("rules/policy/kyc.yaml").read())
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "bad.yaml").write_text("subject: Hi\nbody: 'Dear {{ client.nickname }}'\n")
    db = get_database(make_config(database.config.database_url, rules_dir=str(tmp_path)))
    ingest(db, registered("C1"))
    with pytest.raises(service.NotificationError, match=r"templates/bad.yaml: .*nickname"):
        _send(db, template="bad")


def test_smtp_urls_are_parsed_and_bad_ones_refused():
    target = sender.parse_url("smtps://u%40x:p@mail.example.com")
    assert (target.host, target.port, target.tls, target.username) == ("mail.example.com", 465, "ssl", "u@x")
    assert sender.parse_url("smtp://h:2525?starttls=1").tls == "starttls"
    with pytest.raises(sender.SmtpConfigError, match="smtp://host:25"):
        sender.parse_url("http://mail.example.com")


def test_a_reviewers_approval_reaches_the_client_by_email_through_the_rules(database):
    from engine.kyc import review
    from engine.rules.activation import activate_dir
    from tests.kyc.helpers import submitted

    with SmtpServer() as smtp:
        db = _with_smtp(database, smtp.url)
        activate_dir(db, "rules/onboarding", actor="test")
        ingest(
            db,
            registered("C1", first_name="Ana"),
            submitted("C1", "id", "2026-11-01T11:00:00Z"),
            submitted("C1", "proof_of_address", "2026-11-01T11:01:00Z"),
        )
        with unit_of_work(db) as session:
            review.approve(session, client=clients_service.get_by_ref(session, "C1"), actor="kyc@b.test")
    assert [m["message"]["Subject"] for m in smtp.messages] == ["Your account is approved"]
    assert [(n["template"], n["status"], n["rule_id"]) for n in profile(database, "C1")["notifications"]] == [
        ("kyc-approved", "sent", "kyc-approved")
    ]


def test_queued_email_waits_while_smtp_is_switched_off(database):
    with _refused_email(database) as (_smtp, _db, note_id):
        pass
    assert service.deliver_pending(database) == {}  # `database` has no SMTP URL
    note = _note(database, note_id)
    assert (note.status, note.attempts) == ("queued", 1)


def test_rejection_email_carries_the_client_comment_never_the_internal_one(database):
    """Sumsub's `clientComment` (our `reason`) is for the broker only; `moderationComment`
    (our `comment`) may be shown to the applicant. Only the latter reaches the e-mail."""
    from tests.kyc.helpers import review

    ingest(
        database,
        registered("C1", first_name="Ana"),
        review(
            "C1",
            "rejected",
            "2026-11-01T11:00:00Z",
            reason="Suspected fraudulent account.",
            comment="We could not verify your profile.",
        ),
    )
    body = _note(database, _send(database, template="kyc-rejected")).body
    assert "Suspected fraudulent" not in body
    assert "Reason: We could not verify your profile." in body


def test_rejection_email_explains_a_reason_code_in_the_brokers_words(database):
    from tests.kyc.helpers import review

    ingest(database, registered("C1"), review("C1", "rejected", "2026-11-01T11:00:00Z", reason="underage"))
    body = _note(database, _send(database, template="kyc-rejected")).body
    assert "Reason: You must be at least 18 years old to open an account." in body


def test_a_template_file_is_looked_for_once_and_read_each_time(tmp_path, monkeypatch):
    """Rendering a template of a rules folder looks for its file up the folder's parents
    once (each notification did); the file is read each time (an edit applies at once),
    and looked for again once it is gone."""
    from engine.notifications import templates
    from engine.rules import api as rules_api

    (tmp_path / "templates").mkdir()
    file = tmp_path / "templates" / "hello.yaml"
    file.write_text("subject: Hi\nbody: 'Dear {{ name }}'\n")
    looked = []
    locate = rules_api.locate
    monkeypatch.setattr(
        rules_api, "locate", lambda folder, relative: looked.append(relative) or locate(folder, relative)
    )
    assert templates.render(str(tmp_path), "hello", {"name": "Ann"}).body == "Dear Ann\n"
    file.write_text("subject: Hi\nbody: 'Hi {{ name }}'\n")
    assert templates.render(str(tmp_path), "hello", {"name": "Bob"}).body == "Hi Bob\n"
    assert len(looked) == 1
    file.unlink()
    with pytest.raises(templates.TemplateProblem, match="no such notification template"):
        templates.render(str(tmp_path), "hello", {"name": "Ann"})
    file.write_text("subject: Hi\nbody: 'Back {{ name }}'\n")
    assert templates.render(str(tmp_path), "hello", {"name": "Ann"}).body == "Back Ann\n"
    assert len(looked) == 2  # found where it was, missing: looked for again once back


def test_a_template_of_a_versions_files_is_not_looked_for_on_disk(monkeypatch):
    """A template of the active version's files (engine.rules.files.RuleFiles) is read from
    them; only its name is checked (each notification searched the working folder's
    parents for it)."""
    from engine.notifications import templates
    from engine.rules import api as rules_api
    from engine.rules.files import RuleFiles

    monkeypatch.setattr(rules_api, "locate", lambda *_: pytest.fail("looked for on disk"))
    files = RuleFiles("v1", {"templates/hello.yaml": "subject: Hi\nbody: 'Dear {{ name }}'\n"})
    assert templates.render(files, "hello", {"name": "Ann"}).body == "Dear Ann\n"
    with pytest.raises(templates.TemplateProblem, match="bad template name"):
        templates.render(files, "../hello", {"name": "Ann"})


def test_the_names_a_template_reads_are_parsed_once_per_text(monkeypatch):
    """names_used parses a template's texts once (the set-based notify form asks for each
    template in each round); another text is parsed again."""
    from engine.notifications import templates
    from engine.rules.files import RuleFiles

    parsed = []
    parse = templates._env.parse
    monkeypatch.setattr(templates._env, "parse", lambda text, *a, **k: parsed.append(text) or parse(text, *a, **k))
    body = "body: 'Dear {{ client.first_name }}, {{ kyc.reason }} (names parsed once)'\n"
    files = RuleFiles("v1", {"templates/once.yaml": body})
    assert templates.names_used(files, "once") == {"client", "kyc"}
    assert templates.names_used(files, "once") == {"client", "kyc"}
    assert len(parsed) == 1
    other = RuleFiles("v2", {"templates/once.yaml": body.replace("kyc.reason", "account.id")})
    assert templates.names_used(other, "once") == {"client", "account"}
    assert len(parsed) == 2
