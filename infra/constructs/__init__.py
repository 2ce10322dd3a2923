"""One AWS concept per module; each takes typed config and exposes what others need as attributes."""
