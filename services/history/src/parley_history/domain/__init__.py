"""Pure logic of the history service: no I/O, no framework imports."""
