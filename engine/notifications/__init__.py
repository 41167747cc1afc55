"""Client notifications: rendered from editable templates, recorded, and sent when configured."""
