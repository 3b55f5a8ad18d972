"""Where each profile's run state lives. Backends know nothing of each other."""
