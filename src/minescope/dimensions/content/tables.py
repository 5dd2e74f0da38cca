"""The evidence tables of the content dimension: none yet."""
