"""gittrack: ML experiment tracking whose database is your git repository."""
