"""Device apps: ``idterminal`` (voter check-in) and ``scanner`` (ballot intake)."""
