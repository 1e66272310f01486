#!/usr/bin/env python3
"""Renders a terminal screen captured with `tmux capture-pane -e -p` (text with SGR colour
escapes) to a PNG, cell by cell, in DejaVu Sans Mono. Used by screenshots/make.sh.

usage: ansi2png.py CAPTURE.ans OUT.png --cols N --rows N
"""
import argparse
import re

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
SIZE = 16
BG = (24, 26, 30)
FG = (208, 208, 208)
# xterm's 16 colours, slightly softened.
PALETTE = [
    (40, 42, 46), (205, 49, 49), (13, 188, 121), (229, 229, 16),
    (36, 114, 200), (188, 63, 188), (17, 168, 205), (229, 229, 229),
    (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
    (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255),
]


def xterm256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


class Pen:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None
        self.bg = None
        self.bold = False
        self.dim = False
        self.reverse = False
        self.underline = False

    def apply(self, params):
        codes = [int(c) if c else 0 for c in params.split(";")] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                self.reset()
            elif c == 1:
                self.bold = True
            elif c == 2:
                self.dim = True
            elif c == 4:
                self.underline = True
            elif c == 7:
                self.reverse = True
            elif c == 22:
                self.bold = self.dim = False
            elif c == 24:
                self.underline = False
            elif c == 27:
                self.reverse = False
            elif 30 <= c <= 37:
                self.fg = PALETTE[c - 30]
            elif 90 <= c <= 97:
                self.fg = PALETTE[c - 90 + 8]
            elif c == 39:
                self.fg = None
            elif 40 <= c <= 47:
                self.bg = PALETTE[c - 40]
            elif 100 <= c <= 107:
                self.bg = PALETTE[c - 100 + 8]
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    col = xterm256(codes[i + 2])
                    i += 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    col = tuple(codes[i + 2:i + 5])
                    i += 4
                else:
                    col = None
                if c == 38:
                    self.fg = col
                else:
                    self.bg = col
                i += 1
            i += 1

    def colours(self):
        fg = self.fg or FG
        bg = self.bg or BG
        if self.dim and not self.fg:
            fg = (130, 130, 130)
        if self.reverse:
            fg, bg = bg, fg
        return fg, bg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("out")
    ap.add_argument("--cols", type=int, required=True)
    ap.add_argument("--rows", type=int, required=True)
    a = ap.parse_args()
    regular = ImageFont.truetype(FONT_DIR + "DejaVuSansMono.ttf", SIZE)
    bold = ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Bold.ttf", SIZE)
    cw = round(regular.getlength("M"))
    ch = SIZE + 4
    pad = 12
    img = Image.new("RGB", (a.cols * cw + 2 * pad, a.rows * ch + 2 * pad), BG)
    d = ImageDraw.Draw(img)
    text = open(a.capture, encoding="utf-8", errors="replace").read()
    pen = Pen()
    cells = []
    for row, line in enumerate(text.split("\n")[: a.rows]):
        col = 0
        for part in re.split(r"(\x1b\[[0-9;]*m)", line):
            m = re.fullmatch(r"\x1b\[([0-9;]*)m", part)
            if m:
                pen.apply(m.group(1))
                continue
            for c in part:
                if col < a.cols:
                    fg, bg = pen.colours()
                    cells.append((pad + col * cw, pad + row * ch, c, fg, bg, pen.bold, pen.underline))
                col += 1
    # Backgrounds first, then glyphs, so that descenders (`_`) are not painted over.
    for x, y, c, fg, bg, _, _ in cells:
        d.rectangle([x, y, x + cw - 1, y + ch - 1], fill=bg)
    for x, y, c, fg, bg, is_bold, underline in cells:
        if c in "─│┌┐└┘├┤┬┴┼":
            draw_box(d, c, x, y, cw, ch, fg)
        elif c != " ":
            d.text((x, y + 1), c, font=bold if is_bold else regular, fill=fg)
        if underline:
            d.line([x, y + ch - 2, x + cw - 1, y + ch - 2], fill=fg)
    img.save(a.out)


def draw_box(d, c, x, y, cw, ch, fg):
    """Box-drawing lines joined exactly across cells (font glyphs leave gaps)."""
    mx, my = x + cw // 2, y + ch // 2
    if c in "─┌┐└┘├┤┬┴┼":
        x0 = mx if c in "┌└├" else x
        x1 = mx if c in "┐┘┤" else x + cw - 1
        if c != "│":
            d.line([x0, my, x1, my], fill=fg)
    if c in "│┌┐└┘├┤┬┴┼":
        y0 = my if c in "┌┐┬" else y
        y1 = my if c in "└┘┴" else y + ch - 1
        d.line([mx, y0, mx, y1], fill=fg)


if __name__ == "__main__":
    main()
