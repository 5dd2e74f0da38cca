"""The tips table (``store.tips.tips``): tracking code, region (GB/T 2260), the subject the reporter named,
the description, an optional contact, the status the reporter can look up, and the finding it made."""
