"""inventory-sync."""
