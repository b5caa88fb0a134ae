"""A small PDF writer for study reports: headings, wrapped text, a picture and tables on A4 pages.

No dependency beyond numpy and zlib: text is set in the PDF standard fonts (Helvetica for
prose, Courier for tables, so their columns line up), which every PDF reader has, in
WinAnsi encoding (Latin-1 letters, ``±``, ``µ``, ``²``, ``×`` ... print as themselves; a
character outside it is written as its nearest ASCII form, e.g. ``≥`` as ``>=``). The text
stays text (it can be searched and copied); the picture is stored losslessly (Flate).
Content that does not fit on a page flows onto the next.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ["PdfReport"]

_A4 = (595.28, 841.89)  # points
_MARGIN = 50.0
# Helvetica's advance widths (1/1000 em) for the characters 32-126, from its Adobe font metrics
_HELVETICA = (278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556,
              556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778,
              722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278,
              278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
              556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584)
# characters outside WinAnsi that reports use (dashes, quotes, ±, µ, ², × are in it)
_ASCII_FORMS = {"≥": ">=", "≤": "<=", "−": "-", "≈": "~", "→": "->", "←": "<-"}
_FONTS = {"F1": "Helvetica", "F2": "Helvetica-Bold", "F3": "Courier"}


def _encode(text: str) -> bytes:
    """``text`` in WinAnsi (cp1252) with PDF string escapes; other characters in their ASCII form."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1252")
        except UnicodeEncodeError:
            out += _ASCII_FORMS.get(char, "?").encode("ascii")
    return bytes(out).replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)").replace(b"\r", b"").replace(
        b"\n", b" ")


def _width(text: str, size: float, font: str) -> float:
    """Width in points of ``text`` in ``font`` at ``size`` (bold taken 10 % wider: an upper bound)."""
    if font == "F3":
        return 0.6 * size * len(text)
    units = sum(_HELVETICA[ord(c) - 32] if 32 <= ord(c) < 127 else 600 for c in text)
    return units * size / 1000 * (1.1 if font == "F2" else 1.0)


def _wrap(text: str, size: float, font: str, width: float) -> list[str]:
    """Lines of ``text`` no wider than ``width`` (a word longer than a line is cut)."""
    lines: list[str] = []
    for paragraph in str(text).splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if _width(candidate, size, font) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while _width(word, size, font) > width:  # a long token (a digest, a path-free name)
                cut = max(1, int(len(word) * width / _width(word, size, font)))
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


class PdfReport:
    """Pages filled top to bottom; :meth:`to_bytes` gives the PDF file.

    Examples
    --------
    >>> pdf = PdfReport("Chest CT study")
    >>> pdf.heading("Chest CT study", 16)
    >>> pdf.text("Both lungs, their volumes and the emphysema index.")
    >>> pdf.to_bytes()[:8]
    b'%PDF-1.4'
    """

    def __init__(self, title: str):
        self.title = title
        self._pages: list[list[bytes]] = []
        self._images: list[tuple[int, int, bytes]] = []  # width, height, Flate-compressed RGB
        self._page_images: list[list[int]] = []
        self._y = 0.0
        self._new_page()

    # ------------------------------------------------------------------ layout
    @property
    def _width(self) -> float:
        return _A4[0] - 2 * _MARGIN

    def _new_page(self) -> None:
        self._pages.append([])
        self._page_images.append([])
        self._y = _A4[1] - _MARGIN

    def _room(self, height: float) -> None:
        """Start a new page unless ``height`` points fit on this one (an empty page takes anything)."""
        if self._y - height < _MARGIN and self._pages[-1]:
            self._new_page()

    def _line(self, text: str, size: float, font: str, x: float = _MARGIN, colour=(0, 0, 0)) -> None:
        leading = size * 1.25
        self._room(leading)
        self._y -= leading
        r, g, b = colour
        self._pages[-1].append(b"%.3f %.3f %.3f rg BT /%s %.1f Tf %.2f %.2f Td (%s) Tj ET" % (
            r, g, b, font.encode(), size, x, self._y + size * 0.25, _encode(text)))

    def space(self, points: float = 6.0) -> None:
        """Vertical space (none at the top of a page)."""
        if self._pages[-1]:
            self._y -= points

    def heading(self, text: str, size: float = 12.0) -> None:
        """A bold heading, kept with at least three lines of what follows."""
        self.space(size * 0.6)
        self._room(size * 1.25 + 3 * 12.5)
        for line in _wrap(text, size, "F2", self._width):
            self._line(line, size, "F2")
        self.space(2)

    def text(self, text: str, size: float = 10.0, *, grey: bool = False, indent: float = 0.0) -> None:
        """A paragraph, wrapped to the page width."""
        colour = (0.35, 0.35, 0.35) if grey else (0, 0, 0)
        for line in _wrap(text, size, "F1", self._width - indent):
            self._line(line, size, "F1", _MARGIN + indent, colour)

    def bullets(self, items: Sequence[str], size: float = 9.5, *, numbered: bool = False) -> None:
        """A list, one item per entry, wrapped under its own indent."""
        for number, item in enumerate(items, 1):
            mark = f"{number}." if numbered else "-"
            for i, line in enumerate(_wrap(item, size, "F1", self._width - 18)):
                self._line(line, size, "F1", _MARGIN + 18)
                if i == 0:  # the mark on the item's first line (wherever that landed), read before it
                    self._pages[-1].insert(-1, b"0 0 0 rg BT /F1 %.1f Tf %.2f %.2f Td (%s) Tj ET" % (
                        size, _MARGIN, self._y + size * 0.25, _encode(mark)))

    def picture(self, rgb: np.ndarray, max_height: float = 360.0) -> None:
        """An RGB (or grey) uint8 picture, scaled to the page width or ``max_height``, centred."""
        data = np.asarray(rgb)
        if data.ndim == 2:
            data = np.repeat(data[..., None], 3, axis=-1)
        data = np.ascontiguousarray(data[..., :3], np.uint8)
        h, w = data.shape[:2]
        scale = min(self._width / w, max_height / h)
        shown_w, shown_h = w * scale, h * scale
        self._room(shown_h + 6)
        self._y -= shown_h + 6
        self._images.append((w, h, zlib.compress(data.tobytes(), 6)))
        self._page_images[-1].append(len(self._images))
        x = _MARGIN + (self._width - shown_w) / 2
        self._pages[-1].append(b"q %.2f 0 0 %.2f %.2f %.2f cm /Im%d Do Q" % (shown_w, shown_h, x, self._y,
                                                                              len(self._images)))

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]], *, note: str = "") -> None:
        """A table in Courier with a header row; columns that do not fit the width are left out, said so."""
        cells = [list(map(str, columns))] + [list(map(str, r)) for r in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
        size = 8.0
        kept = len(columns)
        while kept > 1 and 0.6 * size * (sum(widths[:kept]) + 2 * (kept - 1)) > self._width:
            if size > 6.0:
                size -= 0.5
            else:
                kept -= 1
        if kept < len(columns):
            left = len(columns) - kept
            note = (note + " " if note else "") + f"{left} more column{'s' if left > 1 else ''} in the CSV."

        def row_text(row: Sequence[str]) -> str:
            return "  ".join(cell.rjust(width) for cell, width in zip(row[:kept], widths[:kept]))

        self._line(row_text(cells[0]), size, "F3", colour=(0.1, 0.1, 0.5))
        for row in cells[1:]:
            self._line(row_text(row), size, "F3")
        if note:
            self.text(note, 8.5, grey=True)

    # ------------------------------------------------------------------ output
    def to_bytes(self) -> bytes:
        """The PDF file: catalogue, pages, fonts, pictures, with a correct cross-reference table."""
        objects: list[bytes] = []

        def add(body: bytes) -> int:
            objects.append(body)
            return len(objects)

        catalogue = add(b"")  # filled in once the page tree's number is known
        pages_id = add(b"")
        font_ids = {name: add(b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>"
                              % base.encode()) for name, base in _FONTS.items()}
        image_ids = []
        for w, h, compressed in self._images:
            image_ids.append(add(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                                 b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
                                 % (w, h, len(compressed), compressed)))
        fonts = b" ".join(b"/%s %d 0 R" % (name.encode(), i) for name, i in font_ids.items())
        page_ids = []
        for number, (ops, images) in enumerate(zip(self._pages, self._page_images), 1):
            footer = b"0.45 0.45 0.45 rg BT /F1 8 Tf %.2f 25 Td (%s - page %d of %d) Tj ET" % (
                _MARGIN, _encode(self.title), number, len(self._pages))
            content = zlib.compress(b"\n".join([*ops, footer]))
            stream = add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(content), content))
            xobjects = b" ".join(b"/Im%d %d 0 R" % (i, image_ids[i - 1]) for i in images)
            page_ids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R "
                                b"/Resources << /Font << %s >> /XObject << %s >> >> >>"
                                % (pages_id, _A4[0], _A4[1], stream, fonts, xobjects)))
        objects[catalogue - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
        objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
            b" ".join(b"%d 0 R" % i for i in page_ids), len(page_ids))
        info = add(b"<< /Title (%s) /Producer (napari-medimg) >>" % _encode(self.title))
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, 1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            len(objects) + 1, catalogue, info, xref)
        return bytes(out)
