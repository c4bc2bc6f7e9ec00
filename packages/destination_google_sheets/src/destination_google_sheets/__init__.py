"""destination_google_sheets connector (DESIGN §5)."""
