"""Tasks: inbox items that staff work (background work is a "job", never a task)."""
