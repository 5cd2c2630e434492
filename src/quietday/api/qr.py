"""QR codes as the pages draw them: inline SVG (error correction M, a quiet zone of 4 modules,
a viewBox so that style sheets size it)."""

from __future__ import annotations

import io

import segno

__all__ = ["qr_svg"]


def qr_svg(url: str) -> str:
    out = io.BytesIO()
    segno.make(url, error="m").save(
        out, kind="svg", xmldecl=False, svgns=False, border=4, omitsize=True
    )
    return out.getvalue().decode("utf-8")
