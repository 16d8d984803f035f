"""Running OneDoor: the supervisor behind `make up`, the demo, the command line."""
