"""The `jieya` subcommands other than the long-running processes (one module each)."""
