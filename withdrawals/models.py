"""Models of the withdrawals app."""
