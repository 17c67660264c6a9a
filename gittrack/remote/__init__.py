"""Moving runs through git remotes: push, pull, fetch, ref planning, setup."""
