"""source_stripe connector (DESIGN §5)."""
