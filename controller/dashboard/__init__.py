"""The poll workers' dashboard: one server-rendered page, live over server-sent events."""
