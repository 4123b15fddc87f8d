"""amg-bench."""
