"""The only I/O code of the auth service: database, broker, keys, password hashing."""
