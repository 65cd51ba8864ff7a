"""Versions and change logs: what each build changed, the version that follows from it, the log consumers read."""
