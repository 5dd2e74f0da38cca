"""What every dimension's readers share: line-by-line text input, value parsing, and the report of
skipped lines and unreadable files (one bilingual line each)."""
