"""Onboarding and KYC: documents, provider results, overrides, review decisions, lifecycle."""
