"""One module per programme (DOMAIN.md §3), each with ``assess(facts, policy) -> Outcome``."""
