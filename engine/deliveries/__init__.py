"""Webhook deliveries: rejected, ignored, unmatched and pending ones, kept with their reason."""
