"""Runs in git: the repository handle, records, validation, reading and writing runs."""
