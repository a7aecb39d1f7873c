"""Charts drawn by pygal, made safe to serve as pictures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

_SVG = "http://www.w3.org/2000/svg"
ET.register_namespace("", _SVG)
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")


def without_scripts(svg: str | bytes) -> str:
    """Drop the config script pygal always embeds (even with ``js=[]``): a picture runs none,
    and the charts' CSP would block it anyway."""
    root = ET.fromstring(svg)
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == f"{{{_SVG}}}script":
                parent.remove(child)
    return ET.tostring(root, encoding="unicode")
