"""Trading accounts: creation, status, balance snapshots, first trade and activity."""
