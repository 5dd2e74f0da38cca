"""Evidence dimensions, one folder each with the same inner shape.

    readers/     one per input format → evidence tables (Arrow)
    tables.py    the evidence tables, field by field
    detectors/   one per signal: tables → findings
    kinds.py     the finding kinds its detectors raise (declared once; everything else derives from them)

network (captures, flow and sensor logs) and tip (public reports) are filled; host, power, funds and
content are declared and filled by later work.
"""
