"""destination_postgres connector (DESIGN §5)."""
