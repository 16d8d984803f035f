"""OneDoor's own benchmark (`make bench`)."""
