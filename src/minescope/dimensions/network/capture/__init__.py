"""The compiled packet engine: packet decode and the flow table (numba). Nothing else lives here."""
