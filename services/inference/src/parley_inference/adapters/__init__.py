"""The only I/O code: provider, broker, metrics, files."""
