"""The client portal's accounts: clients sign in with an e-mail they confirmed, never as staff."""
