"""The evidence tables of the funds dimension: none yet."""
