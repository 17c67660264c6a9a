"""The public Python faces: the fluent API, :class:`Client`, and ``gittrack run``."""
