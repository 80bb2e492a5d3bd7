"""The `replysla` command."""
