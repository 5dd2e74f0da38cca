"""minescope: find, attribute and size virtual-currency mining from network evidence."""

__version__ = "0.1.0"
