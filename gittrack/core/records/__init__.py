"""Record formats: YAML/TSV encoding, the fast YAML reader, decoded-chunk cache."""
