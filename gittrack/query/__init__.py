"""Queries: MLflow's filter grammar, the SQLite index, SQL compilation, DataFrames."""
