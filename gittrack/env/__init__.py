"""Environment snapshots: Python, platform and package versions."""
