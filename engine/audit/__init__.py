"""The audit trail of manual changes."""
