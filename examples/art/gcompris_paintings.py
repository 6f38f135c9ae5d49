"""Extract whole paintings and landmark photos from Debian's GCompris data package, offline.

GCompris ships its activities' images in Qt resource bundles (``.rcc``). ``details.rcc`` holds
eight Van Gogh paintings and thirteen landmark photos (``*_background.webp``; the bundle's
README gives each file's author and licence); ``paintings.rcc`` holds a jigsaw of 22 paintings
cut into pieces, whose boards (``board/boardN_0.qml``) place each piece's centre as fractions
of a 702 x 515 board, so pasting the pieces back rebuilds each painting.

    cd /tmp && apt-get download gcompris-qt-data      # gcompris-qt-data_3.1-2_all.deb
    dpkg -x gcompris-qt-data_3.1-2_all.deb gcompris-deb
    python examples/art/gcompris_paintings.py gcompris-deb/usr/share/gcompris-qt/rcc /tmp/gcompris

writes ``paintings/*.png``, ``photos/*.png`` and ``manifest.csv`` (file, painter, title,
bundle, path, licence) under the output folder.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from PIL import Image

BOARD = (702, 515)  # the jigsaw board's size in pixels, as its QML files declare
DETAILS = "gcompris/src/activities/details/resource/image/"
PAINTINGS = "gcompris/src/activities/paintings/resource/"
JIGSAW_LICENCE = ("public-domain painting; reproduction from the WebMuseum, "
                  "packaged by GCompris under GPL-3.0-or-later")
VAN_GOGH_TITLES = {  # details.rcc names its files, not its paintings
    "Eglise_dAuvers-sur-Oise": "The Church at Auvers (1890)",
    "Gogh4": "Cafe Terrace at Night (1888)",
    "PortraitOfPereTanguy": "Portrait of Pere Tanguy (1887)",
    "Van_Gogh_The_Night_Cafe": "The Night Cafe (1888)",
    "VincentVanGogh0012": "an interior with arches",
    "VincentVanGogh0013": "a painter on the road",
    "VincentVanGogh0019": "a harvest landscape",
    "VincentVanGoghBridge": "The Langlois Bridge at Arles (1888)",
}
PAINTERS = {  # the boards' spellings that differ from the usual ones
    "Bazille": "Frédéric Bazille", "Katsushika Hokusa": "Katsushika Hokusai",
    "Pieter Brugel": "Pieter Bruegel the Elder", "Vincent Van Gogh": "Vincent van Gogh",
}


class Picture(NamedTuple):
    """One extracted image and what the bundle says about it."""

    kind: str  # "painting" or "photo"
    stem: str
    image: Image.Image
    painter: str  # the photographer, for a photo
    title: str
    path: str  # inside the bundle
    licence: str


def read_rcc(path: Path) -> dict[str, bytes]:
    """Every file in a Qt resource bundle (format version 1-3), by its path inside it."""
    raw = path.read_bytes()
    if raw[:4] != b"qres":
        raise ValueError(f"{path} is not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">4I", raw[4:20])
    node_size = 22 if version >= 2 else 14  # version 2 added an 8-byte modification time

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", raw[names + offset:names + offset + 2])
        start = names + offset + 6  # after the length and a 4-byte hash
        return raw[start:start + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}

    def walk(node: int, prefix: str) -> None:
        at = tree + node * node_size
        name_offset, flags = struct.unpack(">IH", raw[at:at + 6])
        path_here = prefix + name(name_offset) if node else ""
        if flags & 2:  # a directory: child count, first child's node index
            count, first = struct.unpack(">II", raw[at + 6:at + 14])
            for child in range(first, first + count):
                walk(child, path_here + "/" if node else "")
            return
        (offset,) = struct.unpack(">I", raw[at + 10:at + 14])  # after country, language
        (length,) = struct.unpack(">I", raw[data + offset:data + offset + 4])
        blob = raw[data + offset + 4:data + offset + 4 + length]
        if flags & 4:
            raise ValueError(f"{path_here} is zstd-compressed, which this reader does not do")
        files[path_here] = zlib.decompress(blob[4:]) if flags & 1 else blob

    walk(0, "")
    return files


def readme_entries(text: str) -> dict[str, tuple[str, str]]:
    """``{file stem: (author, licence)}`` from details.rcc's README paragraphs."""
    entries = {}
    for block in text.split("\n\n"):
        licence = re.search(r"^License: (.+)$", block, re.M)
        author = re.search(r"based on an? (?:original )?(?:photo|image|painting) by ([^,]+)",
                           block)
        for stem in re.findall(r"^(\S+)_background\.webp$", block, re.M):
            entries[stem] = (author.group(1) if author else "", licence.group(1))
    return entries


def details_images(files: dict[str, bytes]) -> Iterator[Picture]:
    """The Van Gogh paintings and landmark photos of details.rcc (its backgrounds)."""
    entries = readme_entries(files[DETAILS + "README"].decode())
    for stem, (author, licence) in sorted(entries.items()):
        path = f"{DETAILS}{stem}_background.webp"
        image = Image.open(io.BytesIO(files[path])).convert("RGB")
        if author == "Van Gogh":
            yield Picture("painting", stem, image, "Vincent van Gogh", VAN_GOGH_TITLES[stem],
                          path, licence)
        else:
            yield Picture("photo", stem, image, author, stem, path, licence)


def jigsaw_paintings(files: dict[str, bytes]) -> Iterator[Picture]:
    """The paintings of paintings.rcc, each rebuilt from its jigsaw board's pieces."""
    boards = [p for p in files if re.fullmatch(PAINTINGS + r"board/board\d+_0\.qml", p)]
    for path in sorted(boards, key=lambda p: int(re.search(r"board(\d+)_", p).group(1))):
        qml = files[path].decode()
        painter, title = re.search(r'qsTr\("([^,]+), (.+?)"\)', qml).groups()
        painter = PAINTERS.get(painter, painter)
        pieces = re.findall(r'"pixmapfile" : "(image/[^"]+\.webp)",\s*"x" : "([\d.]+)",'
                            r'\s*"y" : "([\d.]+)"', qml)
        if painter == "Michelangelo":
            title += " (a photo of the marble sculpture)"
        board = Image.new("RGBA", BOARD)
        for piece_path, x, y in pieces:
            piece = Image.open(io.BytesIO(files[PAINTINGS + piece_path])).convert("RGBA")
            centre = (float(x) * BOARD[0], float(y) * BOARD[1])
            corner = (round(centre[0] - piece.width / 2), round(centre[1] - piece.height / 2))
            board.alpha_composite(piece, corner)
        image = board.crop(board.getchannel("A").getbbox()).convert("RGB")
        stem = re.sub(r"(_[a-z]\d|[-_]\d)\.webp$", "", Path(pieces[0][0]).name)
        yield Picture("painting", stem, image, painter, title, path, JIGSAW_LICENCE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rcc", type=Path, help="folder holding details.rcc and paintings.rcc")
    parser.add_argument("out", type=Path, help="output folder")
    args = parser.parse_args()

    rows = []
    sources = [("details.rcc", details_images), ("paintings.rcc", jigsaw_paintings)]
    for bundle, extract in sources:
        for pic in extract(read_rcc(args.rcc / bundle)):
            file = f"{pic.kind}s/{pic.stem}.png"
            (args.out / file).parent.mkdir(parents=True, exist_ok=True)
            pic.image.save(args.out / file)
            rows.append({"file": file, "painter": pic.painter, "title": pic.title,
                         "bundle": bundle, "path": pic.path, "licence": pic.licence})
    with open(args.out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} images ({sum(r['file'].startswith('paintings') for r in rows)} "
          f"paintings) and manifest.csv in {args.out}")


if __name__ == "__main__":
    main()
