"""Canonical events: catalogue, schemas, store, processing dispatch and jobs."""
