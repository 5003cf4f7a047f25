"""Pure logic of the auth service: no I/O, no framework."""
