"""The roofline of every module: the machine's ceilings measured once per device (ceilings.py),
bytes moved and operators run per module (moved.py), and the bound and efficiency they give
(bound.py)."""
