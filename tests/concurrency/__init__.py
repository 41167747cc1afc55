"""Races on PostgreSQL: two people (or workers) doing the same thing at the same moment.

Here: tasks, KYC decisions, IB commissions and payouts, a withdrawal step from its page and
its task, client portal accounts (registration, sign-in failures, one-time links). Elsewhere, beside the code they test: tests/payments/test_withdrawal_race.py
(withdrawal decisions), tests/web/test_auth_hardening.py (login lockout counters),
tests/web/test_wires.py (a wire matched twice).
"""
