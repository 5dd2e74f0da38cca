"""Payload parsers of the network dimension: mining protocols, DNS, TLS ClientHello, HTTP heads, node protocols."""
