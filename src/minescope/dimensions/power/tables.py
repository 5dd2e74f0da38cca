"""The evidence tables of the power dimension: none yet."""
