"""Clients: the client record, its lifecycle status and core facts."""
