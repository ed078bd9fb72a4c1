"""Timelines in, through OpenTimelineIO's adapter plugins: never a parser of our own.

Formats and the adapter that reads each: `.otio`/`.json` (otio_json), `.otioz`, CMX 3600 `.edl`
(otio-cmx3600-adapter), FCP 7 `.xml` (otio-fcp-adapter), `.fcpxml` (otio-fcpx-xml-adapter) and
`.aaf` (otio-aaf-adapter). An EDL has no frame rate of its own, so the caller passes one.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from vividvr_editorial.errors import EditorialError

ADAPTERS = {
    ".otio": ("otio_json", "opentimelineio"),
    ".json": ("otio_json", "opentimelineio"),
    ".otioz": ("otioz", "opentimelineio"),
    ".edl": ("cmx_3600", "otio-cmx3600-adapter"),
    ".xml": ("fcp_xml", "otio-fcp-adapter"),
    ".fcpxml": ("fcpx_xml", "otio-fcpx-xml-adapter"),
    ".aaf": ("AAF", "otio-aaf-adapter"),
}
EDL_RATE = Fraction(24)
_EVENT = re.compile(r"^\d+\s")
_REEL_TABLE = re.compile(r"^>>> SOURCE\s+(.+?)\s+->\s+(\S+)\s*$")
_ALL_SEMICOLONS = re.compile(r"\b(\d{2});(\d{2});(\d{2});(\d{2})\b")


def adapter_for(path: str | Path) -> str:
    """The OTIO adapter name for a timeline file, or EditorialError saying what is missing."""
    suffix = Path(path).suffix.lower()
    if suffix not in ADAPTERS:
        known = ", ".join(sorted(ADAPTERS))
        raise EditorialError(f"{path}: unsupported timeline format {suffix or '(no extension)'}; use one of {known}")
    name, package = ADAPTERS[suffix]
    if name not in otio.adapters.available_adapter_names():
        raise EditorialError(f"{path}: the {name} adapter is not installed; pip install {package}")
    return name


def otio_rate(rate: Fraction) -> float:
    """OTIO spells NTSC rates as 24000/1001-style floats, which its timecode code recognises."""
    return float(rate)


def read_timeline(path: str | Path, edl_rate: Fraction = EDL_RATE) -> otio.schema.Timeline:
    """The timeline in `path`; a single clip or a collection becomes a timeline around it."""
    path = Path(path)
    adapter = adapter_for(path)
    if not path.is_file():
        raise EditorialError(f"{path}: timeline file not found")
    try:
        if adapter == "cmx_3600":
            text = normalise_edl(path.read_text(encoding="utf-8-sig", errors="replace"))
            result = otio.adapters.read_from_string(text, adapter, rate=otio_rate(edl_rate))
        else:
            result = otio.adapters.read_from_file(str(path), adapter_name=adapter)
    except Exception as exc:  # adapters raise anything from XML errors to their own parse errors
        hint = ""
        if adapter == "cmx_3600":
            hint = f" (read at {float(edl_rate):.3f} fps; give the EDL's rate with --edl-rate)"
        raise EditorialError(f"{path}: the {adapter} adapter cannot read it: {exc}{hint}") from None
    return as_timeline(result, path)


def normalise_edl(text: str) -> str:
    """What real EDLs hold that the cmx_3600 adapter's grammar has no place for, made plain.

    - before the first event, only TITLE and FCM lines (FCPX's EDL-X writes format notes and
      indented list options there);
    - FCPX's trailing reel-name table (`>>> SOURCE file -> reel`) becomes a `* FROM CLIP NAME: file`
      comment on each event of that reel that has none, so the clip relinks by file name;
    - drop-frame timecode written with semicolons throughout (10;35;42;53) becomes 10:35:42;53,
      the spelling OTIO reads (the adapter takes a value without a colon for a frame count).
    Everything else, the events included, is the adapter's to read.
    """
    lines = text.splitlines()
    first_event = next((i for i, line in enumerate(lines) if _EVENT.match(line)), len(lines))
    sources = {m.group(2): m.group(1) for m in map(_REEL_TABLE.match, lines) if m}
    body: list[str] = [line for line in lines[:first_event] if line.startswith(("TITLE", "FCM"))]
    events = [line for line in lines[first_event:] if not line.startswith(("=>", ">>>"))]
    for n, line in enumerate(events):
        body.append(_ALL_SEMICOLONS.sub(r"\1:\2:\3;\4", line))
        fields = line.split()
        if _EVENT.match(line) and len(fields) > 1 and fields[1] in sources:
            rest = events[n + 1:]
            comments = rest[:next((i for i, later in enumerate(rest) if _EVENT.match(later)), len(rest))]
            if not any("FROM CLIP NAME" in c for c in comments):
                body.append(f"* FROM CLIP NAME: {sources[fields[1]]}")
    return "\n".join(body) + "\n"


def as_timeline(item: otio.core.SerializableObject, path: Path) -> otio.schema.Timeline:
    if isinstance(item, otio.schema.Timeline):
        return item
    if isinstance(item, otio.schema.Clip):
        timeline = otio.schema.Timeline(name=item.name or path.stem)
        track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
        track.append(item.clone())
        timeline.tracks.append(track)
        return timeline
    if isinstance(item, otio.schema.SerializableCollection):
        timelines = [t for t in item.find_children(descended_from_type=otio.schema.Timeline)]
        if len(timelines) == 1:
            return timelines[0]
        raise EditorialError(f"{path}: holds {len(timelines)} timelines; export the one to restore on its own")
    raise EditorialError(f"{path}: holds a {type(item).__name__}, not a timeline or a clip")


def write_like_input(timeline: otio.schema.Timeline, source: Path, destination: Path, edl_rate: Fraction) -> bool:
    """Write `timeline` to `destination` in the input's format when its adapter can write; False if not."""
    adapter = adapter_for(source)
    if adapter in ("otio_json", "otioz"):
        return False  # the .otio output is already this format
    try:
        kwargs = {"rate": otio_rate(edl_rate)} if adapter == "cmx_3600" else {}
        otio.adapters.write_to_file(timeline, str(destination), adapter_name=adapter, **kwargs)
    except Exception:  # an adapter without a writer, or one that cannot express this timeline
        destination.unlink(missing_ok=True)
        return False
    return True
