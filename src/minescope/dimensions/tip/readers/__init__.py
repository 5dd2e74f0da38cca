"""Readers of public reports: the console's form is the only one (``web.app``)."""
