"""The SQL mirror: ``gittrack sync URL`` into SQLite, PostgreSQL or MySQL/MariaDB."""
