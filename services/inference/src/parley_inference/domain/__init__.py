"""Pure logic: no broker, HTTP or SDK imports."""
