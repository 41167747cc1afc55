"""Payments: the wallet ledger, deposits, withdrawals with their approval chain, transfers."""
