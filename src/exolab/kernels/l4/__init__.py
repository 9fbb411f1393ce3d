"""The L4 kernel."""
