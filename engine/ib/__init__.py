"""Introducing brokers: IB tree, attribution, qualification, commissions and payouts."""
