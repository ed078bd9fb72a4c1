"""The one module that calls DaVinci Resolve. Everything Resolve-specific, and every guess, is here.

Facts and traps come from ../shared/design/hosts.md. Where hosts.md is silent the guess is a
named constant or a small function below, so a wrong guess is a one-line change:
- `INDEX_BASE`: `AppendToTimeline`/`AddTake` count `startFrame`/`endFrame` from the clip's first
  frame, `endFrame` exclusive (measured for AppendToTimeline; assumed for AddTake: `TAKE_END_EXCLUSIVE`).
- Marker frames on a timeline item count from the item's first frame.
- `sequence_pattern`: how an image sequence's "File Path" reads (`name.[1001-1100].exr`).
- `VIDEO_TYPES`: which "Type" clip properties are restorable video.
The Python bridge answers any attribute name with a callable, so method presence is checked with
`dir()`, never `hasattr`.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from vividvr_resolve.editorial import ClipMedia, ItemFacts, Restored, Unusable, parse_rate, printf_pattern

BIN_NAME = "VividVR Restored"
INDEX_BASE = 0  # media index of a clip's first frame in AppendToTimeline/AddTake
TAKE_END_EXCLUSIVE = True  # AddTake's endFrame, like AppendToTimeline's (ASSUMED: not measured)
VIDEO_TYPES = ("Video", "Video + Audio")
SKIP_TYPES = {"Audio": "is audio", "Still": "is a still image", "Compound": "is a compound clip",
              "Timeline": "is a nested timeline", "Generator": "is a generator", "Fusion Title": "is a title",
              "Title": "is a title", "Multicam": "is a multicam clip"}
SEQUENCE_PATH = re.compile(r"^(?P<head>.*)\[(?P<first>\d+)-(?P<last>\d+)\](?P<tail>[^\[\]]*)$")
MARKER_COLOR = {"queued": "Blue", "restored": "Green", "failed": "Red"}
MARKER_KEY = "vividvr"  # customData of our markers is JSON with this key


class HostError(RuntimeError):
    """Resolve refused or silently ignored a call; the message says which and what was expected."""


def has_method(obj: Any, name: str) -> bool:
    return name in dir(obj)


def sequence_pattern(file_path: str) -> tuple[str, int, int] | None:
    """(`name.####.exr`, first, last) when Resolve's "File Path" names an image sequence, else None."""
    match = SEQUENCE_PATH.match(file_path)
    if match is None:
        return None
    digits = match["first"]
    return f"{match['head']}{'#' * len(digits)}{match['tail']}", int(digits), int(match["last"])


def clip_media(mpi: Any) -> ClipMedia:
    """A media pool clip's file and timing, or Unusable saying why it cannot be restored."""
    props = mpi.GetClipProperty() or {}
    kind = props.get("Type", "")
    if kind not in VIDEO_TYPES:
        raise Unusable(SKIP_TYPES.get(kind, f"is of type {kind!r}, not video"))
    path = props.get("File Path", "")
    if not path:
        raise Unusable("has no media file")
    frames = int(float(props.get("Frames") or 0))
    if frames <= 0:
        raise Unusable("reports no frames")
    rate = parse_rate(props.get("FPS", ""))
    start_tc = props.get("Start TC") or "00:00:00:00"
    sequence = sequence_pattern(path)
    if sequence is not None:
        pattern, first, _ = sequence
        return ClipMedia(mpi.GetName(), pattern, "sequence", first, frames, rate, start_tc)
    return ClipMedia(mpi.GetName(), path, "movie", 0, frames, rate, start_tc)


class ResolveHost:
    """The live `resolve` object, reduced to what the plugin needs."""

    def __init__(self, resolve: Any) -> None:
        self.resolve = resolve
        manager = resolve.GetProjectManager()
        self.project = manager.GetCurrentProject() if manager else None
        if self.project is None:
            raise HostError("no project is open in DaVinci Resolve")
        self.pool = self.project.GetMediaPool()

    # ------------------------------------------------------------------ reading

    def timeline(self) -> Any:
        return self.project.GetCurrentTimeline()

    def timeline_rate(self, timeline: Any) -> Fraction:
        return parse_rate(timeline.GetSetting("timelineFrameRate") or self.project.GetSetting("timelineFrameRate"))

    def selection(self) -> tuple[str, list]:
        """("timeline", items) or ("media pool", clips): the selected timeline clips where this release
        can say, else the clip under the playhead, else the selected media pool clips."""
        timeline = self.timeline()
        if timeline is not None:
            if has_method(timeline, "GetSelectedClips"):
                selected = list(timeline.GetSelectedClips() or [])
                if selected:
                    return "timeline", selected
            current = timeline.GetCurrentVideoItem()
            if current is not None:
                return "timeline", [current]
        return "media pool", list(self.pool.GetSelectedClips() or [])

    def item_facts(self, item: Any) -> ItemFacts:
        track_type, track = item.GetTrackTypeAndIndex()
        if track_type != "video":
            raise Unusable(f"is on an {track_type} track")
        mpi = item.GetMediaPoolItem()
        if mpi is None:
            raise Unusable("is a generator, title or effect (no media file)")
        media = clip_media(mpi)
        start, end = item.GetSourceStartFrame(), item.GetSourceEndFrame()
        if start is None or end is None:
            raise Unusable("reports no source frames (Resolve older than 18.5?)")
        return ItemFacts(item.GetUniqueId(), item.GetName(), int(track), int(item.GetStart()), int(item.GetEnd()),
                         round(start), round(end), media)

    def timeline_items(self) -> Iterator[tuple[Any, Any]]:
        """(timeline, item) for every video item of every timeline in the project."""
        for index in range(1, (self.project.GetTimelineCount() or 0) + 1):
            timeline = self.project.GetTimelineByIndex(index)
            for track in range(1, (timeline.GetTrackCount("video") or 0) + 1):
                for item in timeline.GetItemListInTrack("video", track) or []:
                    yield timeline, item

    # ------------------------------------------------------------------ markers (job records)

    @staticmethod
    def our_markers(item: Any) -> list[tuple[int, dict]]:
        """(frame, record) for each marker this plugin left on `item`."""
        found = []
        for frame, marker in (item.GetMarkers() or {}).items():
            try:
                data = json.loads(marker.get("customData") or "")
            except ValueError:
                continue
            if isinstance(data, dict) and MARKER_KEY in data:
                found.append((int(frame), data[MARKER_KEY]))
        return found

    @staticmethod
    def add_marker(item: Any, state: str, name: str, note: str, record: dict) -> int:
        """A marker carrying `record`, on the first frame of the item that has none; its frame."""
        custom = json.dumps({MARKER_KEY: record}, sort_keys=True)
        taken = set((item.GetMarkers() or {}).keys())
        for frame in range(int(item.GetDuration())):
            if frame not in taken:
                if item.AddMarker(frame, MARKER_COLOR[state], name, note, 1, custom):
                    return frame
                break
        raise HostError(f"Resolve refused a marker on {item.GetName()!r}")

    @staticmethod
    def delete_marker(item: Any, frame: int) -> None:
        item.DeleteMarkerAtFrame(frame)

    # ------------------------------------------------------------------ bringing back

    def restored_bin(self) -> Any:
        """The "VividVR Restored" bin under the root, made on first use."""
        root = self.pool.GetRootFolder()
        for folder in root.GetSubFolderList() or []:
            if folder.GetName() == BIN_NAME:
                return folder
        folder = self.pool.AddSubFolder(root, BIN_NAME)
        if folder is None:
            raise HostError(f"Resolve refused to make the {BIN_NAME!r} bin")
        return folder

    def import_restored(self, restored: Restored) -> Any:
        """Import into the restored bin (imports land in the current bin, so set it first, then put it back)."""
        previous = self.pool.GetCurrentFolder()
        self.pool.SetCurrentFolder(self.restored_bin())
        try:
            if restored.kind == "sequence":
                entry: Any = {"FilePath": printf_pattern(restored.path), "StartIndex": restored.first_number,
                              "EndIndex": restored.last_number}
            else:
                entry = restored.path
            imported = self.pool.ImportMedia([entry]) or []
        finally:
            if previous is not None:
                self.pool.SetCurrentFolder(previous)
        if not imported:
            raise HostError(f"Resolve imported nothing from {restored.path}")
        return imported[0]

    @staticmethod
    def add_take(item: Any, mpi: Any, start: int, end: int) -> None:
        """Add the restored media as a take on `item` and show it."""
        last = end if TAKE_END_EXCLUSIVE else end - 1
        if not item.AddTake(mpi, start + INDEX_BASE, last + INDEX_BASE):
            raise HostError(f"Resolve refused a take on {item.GetName()!r}")
        count = int(item.GetTakesCount() or 0)
        if not count or not item.SelectTakeByIndex(count):
            raise HostError(f"Resolve added a take to {item.GetName()!r} but would not select it")

    def occupied(self, timeline: Any) -> list[list[tuple[int, int]]]:
        """Record ranges [start, end) of every video track."""
        return [
            [(int(i.GetStart()), int(i.GetEnd())) for i in timeline.GetItemListInTrack("video", track) or []]
            for track in range(1, (timeline.GetTrackCount("video") or 0) + 1)
        ]

    def append(self, timeline: Any, mpi: Any, start: int, end: int, track: int, record: int) -> Any:
        """Place media indices [start, end) at `record` on `track` (made if missing); read back, never trusted."""
        while (timeline.GetTrackCount("video") or 0) < track:
            if not timeline.AddTrack("video"):
                raise HostError("Resolve refused to add a video track")
        current = self.project.GetCurrentTimeline()
        if current is not timeline:
            self.project.SetCurrentTimeline(timeline)  # AppendToTimeline places on the current timeline
        try:
            placed = self.pool.AppendToTimeline([{"mediaPoolItem": mpi, "startFrame": start + INDEX_BASE,
                                                  "endFrame": end + INDEX_BASE, "mediaType": 1, "trackIndex": track,
                                                  "recordFrame": record}]) or []
        finally:
            if current is not None and current is not timeline:
                self.project.SetCurrentTimeline(current)
        landed = [i for i in timeline.GetItemListInTrack("video", track) or [] if int(i.GetStart()) == record]
        if not placed or not landed:
            raise HostError(f"Resolve dropped the restored clip at frame {record} on V{track} (an overlap?)")
        return landed[0]

    @staticmethod
    def tag_item(item: Any, color: str) -> None:
        if not item.SetClipColor(color):
            raise HostError(f"Resolve refused clip colour {color!r}")

    @staticmethod
    def tag_media(mpi: Any, color: str, job_id: str, settings: dict) -> None:
        mpi.SetClipColor(color)
        mpi.SetThirdPartyMetadata("VividVR Job", job_id)
        mpi.SetThirdPartyMetadata("VividVR Settings", json.dumps(settings, sort_keys=True))

    # ------------------------------------------------------------------ media pool records (queued clips)

    def pool_clips(self) -> Iterator[Any]:
        """Every clip of every bin."""
        folders = [self.pool.GetRootFolder()]
        while folders:
            folder = folders.pop()
            yield from folder.GetClipList() or []
            folders.extend(folder.GetSubFolderList() or [])

    @staticmethod
    def queued_on_clip(mpi: Any) -> list[dict]:
        try:
            records = json.loads(mpi.GetThirdPartyMetadata("VividVR Queued") or "[]")
        except ValueError:
            return []
        return records if isinstance(records, list) else []

    @staticmethod
    def set_queued_on_clip(mpi: Any, records: list[dict]) -> None:
        mpi.SetThirdPartyMetadata("VividVR Queued", json.dumps(records, sort_keys=True) if records else "")


def tool_attrs(tool: Any) -> tuple[str, str]:
    """(registry id such as "MediaIn" or "Loader", node name) of a Fusion tool."""
    attrs = tool.GetAttrs() or {}
    return attrs.get("TOOLS_RegID", ""), attrs.get("TOOLS_Name", "the node")


def _lua_first(value: Any) -> Any:
    """Fusion hands Lua tables to Python as dicts keyed 1, 2, ...; a plain value stays as it is."""
    return value.get(1) if isinstance(value, dict) else value


LOADER_FRAME = re.compile(r"^(?P<head>.*?)(?P<digits>\d+)(?P<tail>\.[^.\\/]+)$")


def loader_source(tool: Any) -> tuple[str, str]:
    """(media path or sequence pattern, daemon frame range "a-b" or "") of a Loader, from its attributes.

    ASSUMED (not in hosts.md): `TOOLST_Clip_Name` is the file (a sequence's first file) and
    `TOOLIT_Clip_TrimIn`/`TrimOut` count frames from the clip's first frame.
    """
    attrs = tool.GetAttrs() or {}
    path = _lua_first(attrs.get("TOOLST_Clip_Name")) or ""
    trim_in, trim_out = _lua_first(attrs.get("TOOLIT_Clip_TrimIn")), _lua_first(attrs.get("TOOLIT_Clip_TrimOut"))
    numbered = LOADER_FRAME.match(path)
    first = 0
    if numbered is not None and numbered["tail"].lower() not in (".mov", ".mp4", ".mxf", ".avi", ".mkv"):
        path = f"{numbered['head']}{'#' * len(numbered['digits'])}{numbered['tail']}"
        first = int(numbered["digits"])
    if trim_in is None or trim_out is None:
        return path, ""
    return path, f"{first + int(trim_in)}-{first + int(trim_out)}"


def find_resolve(namespace: dict) -> Any:
    """The `resolve` object the documented ways: the script's global, bmd.scriptapp, DaVinciResolveScript.

    Resolve may put its globals in the script's namespace or in builtins; both are looked at.
    """

    def host_global(name: str) -> Any:
        return namespace.get(name) if namespace.get(name) is not None else getattr(builtins, name, None)

    if host_global("resolve") is not None:
        return host_global("resolve")
    bmd = host_global("bmd")
    if bmd is not None:
        found = bmd.scriptapp("Resolve")
        if found is not None:
            return found
    try:
        import DaVinciResolveScript  # type: ignore[import-not-found]
    except ImportError:
        raise HostError("cannot reach DaVinci Resolve: run this from Workspace > Scripts inside Resolve") from None
    found = DaVinciResolveScript.scriptapp("Resolve")
    if found is None:
        raise HostError("DaVinci Resolve refused the connection: run this from Workspace > Scripts inside Resolve")
    return found


# ---------------------------------------------------------------------- UI (UIManager)


@dataclass(frozen=True)
class Field:
    """One row of a form: a widget named `id` of `kind` combo, spin, line or label."""

    id: str
    kind: str
    label: str
    value: Any
    choices: tuple[str, ...] = ()
    maximum: int = 100000


class Form:
    """The widgets of a shown window, read and written by id."""

    def __init__(self, items: Any, fields: list[Field], close: Callable[[], None]) -> None:
        self.items = items
        self.kinds = {f.id: f.kind for f in fields}
        self.close = close

    def value(self, field_id: str) -> Any:
        widget = self.items[field_id]
        kind = self.kinds[field_id]
        if kind == "combo":
            return widget.CurrentText
        if kind == "spin":
            return int(widget.Value)
        return widget.Text

    def set_text(self, field_id: str, text: str) -> None:
        self.items[field_id].Text = text


class Ui:
    """Resolve's UIManager (`fusion.UIManager`, `bmd.UIDispatcher`): one window at a time, and a polling Timer."""

    WINDOW = "VividVRWindow"
    TIMER = "VividVRPoll"

    def __init__(self, manager: Any, dispatcher: Any) -> None:
        self.manager = manager
        self.dispatcher = dispatcher

    def _widget(self, field: Field) -> Any:
        m = self.manager
        if field.kind == "combo":
            return m.ComboBox({"ID": field.id})
        if field.kind == "spin":
            return m.SpinBox({"ID": field.id, "Minimum": 0, "Maximum": field.maximum, "Value": int(field.value)})
        if field.kind == "line":
            return m.LineEdit({"ID": field.id, "Text": str(field.value)})
        return m.Label({"ID": field.id, "Text": str(field.value), "WordWrap": True})

    def run(self, title: str, fields: list[Field], buttons: list[tuple[str, str]],
            handlers: dict[str, Callable[[Form], None]], poll: Callable[[Form], None] | None = None) -> None:
        """Show a window until a handler calls `form.close()`; `poll` runs every 200 ms meanwhile."""
        m = self.manager
        rows = [m.HGroup([m.Label({"Text": f.label, "MinimumSize": [170, 0]}), self._widget(f)]) if f.label
                else self._widget(f) for f in fields]
        rows.append(m.HGroup([m.Button({"ID": button_id, "Text": text}) for button_id, text in buttons]))
        geometry = [200, 120, 520, 40 + 34 * len(rows)]
        window = self.dispatcher.AddWindow({"ID": self.WINDOW, "WindowTitle": title, "Geometry": geometry},
                                           m.VGroup(rows))
        items = window.GetItems()
        for field in fields:
            if field.kind == "combo":
                items[field.id].AddItems(list(field.choices))
                items[field.id].CurrentIndex = field.choices.index(field.value)
        form = Form(items, fields, self.dispatcher.ExitLoop)
        getattr(window.On, self.WINDOW).Close = lambda event: form.close()
        for button_id, handler in handlers.items():
            getattr(window.On, button_id).Clicked = lambda event, h=handler: h(form)
        timer = None
        if poll is not None:
            timer = m.Timer({"ID": self.TIMER, "Interval": 200})
            getattr(self.dispatcher.On, self.TIMER).Timeout = lambda event: poll(form)
            timer.Start()
        window.Show()
        try:
            self.dispatcher.RunLoop()
        finally:
            if timer is not None:
                timer.Stop()
            window.Hide()
