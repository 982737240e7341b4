"""One router per resource: recommend, items, events, health, metrics, admin."""
