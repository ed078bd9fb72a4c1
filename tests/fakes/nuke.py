"""A stand-in for Nuke's `nuke` module, written from the API described in ../shared/design/hosts.md.

Nuke cannot run here, so tests import this module as `nuke`. It implements what the guide
documents, and enforces what the guide warns about:
- knobs (value/setValue, typed: Int, Double, Boolean, Enumeration, String, File, PyScript
  buttons with execute()), `node.input(0)`, `setInput`, groups with `node.node(name)`;
- Read knobs file/first/last/frame_mode/frame/colorspace; `root()` first_frame/last_frame/fps;
- beyond hosts.md, from Foundry's Python API reference: a Read's `origfirst`/`origlast` (the frames
  found in its file, filled when `file` is set or a script loads; real media is read), `hasError()`,
  `firstFrame()`/`lastFrame()` (the comp frames a Read outputs), `Knob.Class()`, `message()`;
- `fake_conventions`: one switch per behaviour the plugin reads back instead of trusting;
- gizmos: `createNode("X")` loads X.gizmo from the plugin path (addUserKnob definitions, default
  values, child nodes and their wiring); a saved script stores only a gizmo's name and the knob
  values that differ from the gizmo's defaults, so its internal nodes start fresh on load;
- `addOnCreate` callbacks run for new nodes and for nodes loaded from a script, with thisNode();
- `executeInMainThread` queues calls for the main thread, and refuses a call made *from* the main
  thread (real Nuke hangs there); with GUI true, knobs touched off the main thread raise;
- `ProgressTask` with setMessage/setProgress/isCancelled;
- `pluginAddPath`, `menu("Nodes").addCommand`, `scriptOpen`/`scriptSave`/`scriptClear` (a
  subset of the .nk syntax: node blocks, `set`/`push` for wiring, `version`).

Fake-only helpers (not Nuke API) are prefixed `fake_`: the main-thread event loop, a user
pressing a progress bar's cancel, Nuke's startup sequence, and which file a Read shows at a frame.
"""

from __future__ import annotations

import os
import queue
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

GUI = True
env: dict[str, Any] = {"gui": True}
# Each Nuke behaviour the plugin relies on but cannot check here is one switch (fake_reset restores them):
# - movie_first_frame: the file frame number Nuke gives a movie's first frame (Foundry's Read shows
#   movies from 1; assumed, never measured here, so the plugin reads it back from origfirst), or
#   "timecode": numbered from the movie's start timecode, as an editorial tool would;
# - offset_sign: frame_mode "offset" shows file frame f at comp frame f + sign * frame (documented: +1).
CONVENTIONS: dict[str, Any] = {"movie_first_frame": 1, "offset_sign": 1}
fake_conventions: dict[str, Any] = dict(CONVENTIONS)
fake_dialogs: list[str] = []  # what nuke.message showed


class _ThreadError(RuntimeError):
    pass


def _check_thread() -> None:
    if GUI and threading.current_thread() is not threading.main_thread():
        raise _ThreadError("fake nuke: a knob was touched off the main thread (use executeInMainThread)")


# ------------------------------------------------------------------------------------- knobs


class Knob:
    default: Any = ""

    def __init__(self, name: str, label: str | None = None, value: Any = None) -> None:
        self._name = name
        self._label = label if label is not None else name
        self._value = self.default if value is None else self._convert(value)
        self.node: Node | None = None
        self.flags: set[str] = set()
        self.tooltip = ""

    def name(self) -> str:
        return self._name

    def Class(self) -> str:
        return type(self).__name__

    def label(self) -> str:
        return self._label

    def _convert(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError(f"{self._name}: expected a string, got {value!r}")
        return value

    def value(self) -> Any:
        _check_thread()
        return self._value

    def getValue(self) -> Any:
        return self.value()

    def setValue(self, value: Any) -> bool:
        _check_thread()
        self._value = self._convert(value)
        return True

    def fake_parse(self, text: str) -> Any:
        return self._convert(text)

    def fake_format(self) -> str:
        return str(self._value)


class String_Knob(Knob):
    pass


class File_Knob(String_Knob):
    def setValue(self, value: Any) -> bool:
        super().setValue(value)
        if self.node is not None and self.node.Class() == "Read":
            _fake_load_media(self.node)
        return True


class Text_Knob(String_Knob):
    pass


class Tab_Knob(Knob):
    pass


class Int_Knob(Knob):
    default = 0

    def _convert(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise TypeError(f"{self._name}: expected an integer, got {value!r}")
        return int(value)

    def fake_parse(self, text: str) -> Any:
        return self._convert(float(text))


class Double_Knob(Knob):
    default = 0.0

    def _convert(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{self._name}: expected a number, got {value!r}")
        return float(value)

    def fake_parse(self, text: str) -> Any:
        return float(text)

    def fake_format(self) -> str:
        return repr(self._value)


class Boolean_Knob(Knob):
    default = False

    def _convert(self, value: Any) -> Any:
        if not isinstance(value, bool | int):
            raise TypeError(f"{self._name}: expected a boolean, got {value!r}")
        return bool(value)

    def fake_parse(self, text: str) -> Any:
        return text in ("true", "1")

    def fake_format(self) -> str:
        return "true" if self._value else "false"


class Enumeration_Knob(Knob):
    def __init__(self, name: str, label: str | None = None, values: list[str] | None = None) -> None:
        self._values = list(values or [])
        super().__init__(name, label, self._values[0] if self._values else "")

    def values(self) -> list[str]:
        return list(self._values)

    def _convert(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(self._values):
            return self._values[value]
        if value not in self._values:
            raise ValueError(f"{self._name}: {value!r} is not one of {self._values}")
        return value


class PyScript_Knob(Knob):
    """A button: `execute()` runs its Python with thisNode() set to the owning node."""

    def __init__(self, name: str, label: str | None = None, command: str = "") -> None:
        super().__init__(name, label, "")
        self.command = command

    def execute(self) -> None:
        _check_thread()
        with _context(self.node, self):
            exec(self.command, {"nuke": sys.modules[__name__]})


KNOB_TYPES: dict[str, type[Knob]] = {
    "1": String_Knob,
    "2": File_Knob,
    "3": Int_Knob,
    "4": Enumeration_Knob,
    "6": Boolean_Knob,
    "7": Double_Knob,
    "20": Tab_Knob,
    "22": PyScript_Knob,
    "26": Text_Knob,
}

# ------------------------------------------------------------------------------------- nodes


class Format:
    def __init__(self, width: int, height: int) -> None:
        self._width, self._height = width, height

    def width(self) -> int:
        return self._width

    def height(self) -> int:
        return self._height


class Node:
    def __init__(self, node_class: str, knobs: list[Knob], max_inputs: int) -> None:
        self._class = node_class
        self._knobs: dict[str, Knob] = {}
        self._inputs: list[Node | None] = [None] * max_inputs
        self._children: dict[str, Node] = {}
        self._parent: Node | None = None
        self.fake_error = False
        self.addKnob(String_Knob("name", "name", ""))
        for knob in knobs:
            self.addKnob(knob)
        self.fake_defaults = {k: v._value for k, v in self._knobs.items()}

    def Class(self) -> str:
        return self._class

    def name(self) -> str:
        return self._knobs["name"]._value

    def fullName(self) -> str:
        if self._parent is None or self._parent is _state.root:
            return self.name()
        return f"{self._parent.fullName()}.{self.name()}"

    def addKnob(self, knob: Knob) -> None:
        knob.node = self
        self._knobs[knob.name()] = knob

    def knob(self, name: str) -> Knob | None:
        return self._knobs.get(name)

    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def __getitem__(self, name: str) -> Knob:
        try:
            return self._knobs[name]
        except KeyError:
            raise NameError(f"knob {name} does not exist") from None

    def input(self, index: int) -> Node | None:
        _check_thread()
        return self._inputs[index] if index < len(self._inputs) else None

    def setInput(self, index: int, node: Node | None) -> bool:
        _check_thread()
        if index >= len(self._inputs):
            return False
        self._inputs[index] = node
        return True

    def maxInputs(self) -> int:
        return len(self._inputs)

    def node(self, name: str) -> Node | None:
        return self._children.get(name)

    def nodes(self) -> list[Node]:
        return list(self._children.values())

    def format(self) -> Format:
        return Format(1920, 1080)

    def hasError(self) -> bool:
        return self.fake_error

    def firstFrame(self) -> int:
        return self._frame_range()[0]

    def lastFrame(self) -> int:
        return self._frame_range()[1]

    def _frame_range(self) -> tuple[int, int]:
        """Comp frames a Read outputs (its file range moved by its frame mode); the project range otherwise."""
        if self._class != "Read":
            return _state.root["first_frame"]._value, _state.root["last_frame"]._value
        first, last = self["first"]._value, self["last"]._value
        mode, value = self["frame_mode"]._value, self["frame"]._value.strip()
        if mode == "offset":
            shift = fake_conventions["offset_sign"] * int(value or 0)
        elif mode == "start at":
            shift = int(value or first) - first
        else:
            shift = -(int(eval(value or "frame", {"frame": 0})))  # test inputs only: frame+N reads comp+N
        return first + shift, last + shift

    def begin(self) -> Node:
        _state.groups.append(self)
        return self

    def end(self) -> None:
        _state.groups.pop()

    def __enter__(self) -> Node:
        return self.begin()

    def __exit__(self, *exc: object) -> None:
        self.end()


BUILTIN: dict[str, tuple[int, Callable[[], list[Knob]]]] = {
    "Root": (
        0,
        lambda: [Int_Knob("first_frame", value=1), Int_Knob("last_frame", value=100), Double_Knob("fps", value=24.0),
                 String_Knob("format", value="HD_1080")],
    ),
    "Read": (
        0,
        lambda: [
            File_Knob("file"),
            Int_Knob("first", value=1),
            Int_Knob("last", value=1),
            Enumeration_Knob("frame_mode", "frame mode", ["expression", "start at", "offset"]),
            String_Knob("frame"),
            String_Knob("colorspace", value="default"),
            Int_Knob("origfirst", "original range", value=1),
            Int_Knob("origlast", value=1),
        ],
    ),
    "Dot": (1, list),
    "Input": (0, list),
    "Output": (1, list),
    "Switch": (2, lambda: [Int_Knob("which")]),
    "Grade": (1, lambda: [Double_Knob("white", value=1.0)]),
}

# ------------------------------------------------------------------------------- module state


class _State:
    def __init__(self) -> None:
        self.root = Node("Root", BUILTIN["Root"][1](), 0)
        self.root["name"]._value = "root"
        self.groups: list[Node] = []
        self.counters: dict[str, int] = {}
        self.context: list[tuple[Node | None, Knob | None]] = []


_state = _State()
_plugin_paths: list[str] = []
_on_create: list[tuple[Callable, tuple, dict, str]] = []
_menus: dict[str, Menu] = {}
_main_queue: queue.Queue = queue.Queue()
fake_progress_tasks: list[ProgressTask] = []


class _context:
    def __init__(self, node: Node | None, knob: Knob | None = None) -> None:
        self.entry = (node, knob)

    def __enter__(self) -> None:
        _state.context.append(self.entry)

    def __exit__(self, *exc: object) -> None:
        _state.context.pop()


def fake_reset(gui: bool = True) -> None:
    """A fresh session: no nodes, callbacks, menus, plugin paths or queued calls."""
    global GUI, _state
    GUI = gui
    env["gui"] = gui
    _state = _State()
    _plugin_paths.clear()
    fake_conventions.clear()
    fake_conventions.update(CONVENTIONS)
    fake_dialogs.clear()
    _on_create.clear()
    _menus.clear()
    fake_progress_tasks.clear()
    while not _main_queue.empty():
        _main_queue.get_nowait()


def root() -> Node:
    return _state.root


def thisNode() -> Node:
    return _state.context[-1][0] if _state.context else _state.root


def thisKnob() -> Knob | None:
    return _state.context[-1][1] if _state.context else None


def _group() -> Node:
    return _state.groups[-1] if _state.groups else _state.root


def toNode(name: str) -> Node | None:
    node: Node | None = _state.root
    for part in name.split("."):
        node = node.node(part) if node is not None else None
    return node


def _gizmo_file(node_class: str) -> Path | None:
    for folder in reversed(_plugin_paths):
        candidate = Path(folder) / f"{node_class}.gizmo"
        if candidate.is_file():
            return candidate
    return None


def _new_node(node_class: str, name: str | None = None) -> Node:
    parent = _group()
    if node_class in BUILTIN:
        max_inputs, knobs = BUILTIN[node_class]
        node = Node(node_class, knobs(), max_inputs)
    else:
        gizmo = _gizmo_file(node_class)
        if gizmo is None:
            raise RuntimeError(f"{node_class}: unknown command")
        node = _load_gizmo(node_class, gizmo)
    if name is None:
        _state.counters[node_class] = _state.counters.get(node_class, 0) + 1
        name = f"{node_class}{_state.counters[node_class]}"
    node["name"]._value = name
    node._parent = parent
    parent._children[name] = node
    return node


def _created(node: Node) -> None:
    for call, args, kwargs, node_class in list(_on_create):
        if node_class in ("*", node.Class()):
            with _context(node):
                call(*args, **kwargs)


def createNode(node: str, args: str = "", inpanel: bool = True) -> Node:
    """Create a node (a gizmo from the plugin path too); `args` is a Tcl knob list, as in Nuke."""
    _check_thread()
    created = _new_node(node)
    words = _statements(args)
    for statement in words:
        for key, value in zip(statement[::2], statement[1::2], strict=True):
            created[key]._value = created[key].fake_parse(value)
    _created(created)
    return created


class _Nodes:
    """`nuke.nodes.Read(file=..., first=...)`: create a node with knob values."""

    def __getattr__(self, node_class: str) -> Callable[..., Node]:
        def make(**knobs: Any) -> Node:
            _check_thread()
            created = _new_node(node_class, knobs.pop("name", None))
            for key, value in knobs.items():
                created[key].setValue(value)
            _created(created)
            return created

        return make


nodes = _Nodes()


# ------------------------------------------------------------------------- callbacks and UI


def addOnCreate(call: Callable, args: tuple = (), kwargs: dict | None = None, nodeClass: str = "*") -> None:
    _on_create.append((call, tuple(args), dict(kwargs or {}), nodeClass))


def message(text: str) -> None:
    """A modal dialog in the GUI (main thread only); terminal Nuke prints it."""
    _check_thread()
    if GUI:
        fake_dialogs.append(text)
    else:
        print(text)


def executeInMainThread(call: Callable, args: tuple = (), kwargs: dict | None = None) -> None:
    """Queue `call` for the main thread. From the main thread itself real Nuke hangs: refuse."""
    if threading.current_thread() is threading.main_thread():
        raise RuntimeError("executeInMainThread called from the main thread: Nuke would hang")
    if not isinstance(args, tuple):
        raise TypeError("executeInMainThread: args must be a tuple")
    _main_queue.put((call, args, dict(kwargs or {})))


def fake_run_main_loop(until: Callable[[], bool], timeout: float = 60.0) -> None:
    """Run queued main-thread calls (Nuke's event loop) until `until()` holds; TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while not until():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("fake nuke: the condition did not hold before the timeout")
        try:
            call, args, kwargs = _main_queue.get(timeout=min(0.05, remaining))
        except queue.Empty:
            continue
        call(*args, **kwargs)


class ProgressTask:
    def __init__(self, name: str) -> None:
        self.name = name
        self.fake_messages: list[str] = []
        self.fake_progress = 0
        self._cancelled = threading.Event()
        fake_progress_tasks.append(self)

    def setMessage(self, message: str) -> None:
        self.fake_messages.append(message)

    def setProgress(self, progress: int) -> None:
        if not isinstance(progress, int):
            raise TypeError("setProgress takes an int")
        self.fake_progress = progress

    def isCancelled(self) -> bool:
        return self._cancelled.is_set()

    def fake_cancel(self) -> None:
        """The user pressed the progress bar's cancel button."""
        self._cancelled.set()


class Menu:
    def __init__(self, name: str) -> None:
        self.name = name
        self.fake_items: dict[str, Any] = {}

    def addCommand(self, name: str, command: Any = None, shortcut: str = "", icon: str = "", index: int = -1) -> None:
        self.fake_items[name] = command

    def fake_invoke(self, name: str) -> Any:
        command = self.fake_items[name]
        if callable(command):
            return command()
        return exec(command, {"nuke": sys.modules[__name__]})


def menu(name: str) -> Menu:
    return _menus.setdefault(name, Menu(name))


def pluginAddPath(path: str) -> None:
    """Add a folder to the plugin path (gizmos, init.py/menu.py) and to sys.path, as Nuke does."""
    path = os.path.abspath(os.path.expanduser(path))
    if path not in _plugin_paths:
        _plugin_paths.append(path)
    if path not in sys.path:
        sys.path.insert(0, path)


def pluginPath() -> list[str]:
    return list(_plugin_paths)


def fake_startup(gui: bool, home: Path, nuke_path: str | None = None) -> None:
    """Nuke's start: init.py in ~/.nuke, the NUKE_PATH folders and every folder they add, then menu.py (GUI).

    `nuke_path` stands for $NUKE_PATH (read from the environment when None).
    """
    fake_reset(gui)
    nuke_path = os.environ.get("NUKE_PATH", "") if nuke_path is None else nuke_path
    for folder in [str(home / ".nuke"), *filter(None, nuke_path.split(os.pathsep))]:
        pluginAddPath(folder)
    done: list[str] = []
    while len(done) < len(_plugin_paths):
        folder = next(p for p in _plugin_paths if p not in done)
        done.append(folder)
        _run_file(Path(folder) / "init.py")
    if gui:
        for folder in list(_plugin_paths):
            _run_file(Path(folder) / "menu.py")


def _run_file(path: Path) -> None:
    if path.is_file():
        exec(compile(path.read_text(), str(path), "exec"), {"__file__": str(path), "__name__": "__nuke_startup__"})


# ------------------------------------------------------------------------------ .nk syntax


class _Braced(str):
    pass


def _statements(text: str) -> list[list[str]]:
    """Tcl-like statements: words are bare, "quoted" (backslash escapes) or {braced}; newlines end statements."""
    statements: list[list[str]] = []
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n" or c == ";":
            if words:
                statements.append(words)
                words = []
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#" and not words:
            while i < n and text[i] != "\n":
                i += 1
        elif c == '"':
            i += 1
            out = []
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                    out.append({"n": "\n", "t": "\t"}.get(text[i], text[i]))
                else:
                    out.append(text[i])
                i += 1
            words.append("".join(out))
            i += 1
        elif c == "{":
            depth, start = 1, i + 1
            i += 1
            while depth:
                if text[i] == "\\":
                    i += 1
                elif text[i] == "{":
                    depth += 1
                elif text[i] == "}":
                    depth -= 1
                i += 1
            words.append(_Braced(text[start : i - 1]))
        else:
            start = i
            while i < n and text[i] not in " \t\r\n;":
                i += 1
            words.append(text[start:i])
    if words:
        statements.append(words)
    return statements


def _user_knob(spec: str) -> Knob:
    words = _statements(spec.replace("\n", " "))[0]
    kind, name, rest = words[0], words[1], words[2:]
    options: dict[str, Any] = {}
    flags = set()
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in ("l", "t", "T", "M", "n"):
            options[word] = rest[i + 1]
            i += 2
        elif word == "R":
            options["R"] = (rest[i + 1], rest[i + 2])
            i += 3
        elif word[:1] in "+-":
            flags.add(word)
            i += 1
        else:
            raise ValueError(f"fake nuke: cannot read addUserKnob option {word!r} in {{{spec}}}")
    knob_type = KNOB_TYPES[kind]
    label = options.get("l")
    if knob_type is Enumeration_Knob:
        knob: Knob = Enumeration_Knob(name, label, [w for s in _statements(options["M"]) for w in s])
    elif knob_type is PyScript_Knob:
        knob = PyScript_Knob(name, label, options.get("T", ""))
    else:
        knob = knob_type(name, label)
        if "T" in options:
            knob._value = options["T"]
    knob.flags = flags
    knob.tooltip = options.get("t", "")
    return knob


def _apply_block(node: Node, body: str) -> int | None:
    """Set knobs (and add user knobs) from a node block; returns its `inputs` count when given."""
    inputs = None
    for words in _statements(body):
        key = words[0]
        if key == "addUserKnob":
            node.addKnob(_user_knob(words[1]))
        elif key == "inputs":
            inputs = int(words[1])
        elif key in ("help", "xpos", "ypos", "selected", "tile_color") or key == "name":
            continue
        else:
            knob = node.knob(key)
            if knob is None:
                knob = String_Knob(key)
                node.addKnob(knob)
            knob._value = knob.fake_parse(words[1])
    return inputs


def _load_gizmo(node_class: str, path: Path) -> Node:
    statements = _statements(path.read_text())
    header = next(s for s in statements if s[0] == "Gizmo")
    gizmo = Node(node_class, [], 1)
    _apply_block(gizmo, header[1])
    gizmo.fake_defaults = {k: v._value for k, v in gizmo._knobs.items()}
    body = statements[statements.index(header) + 1 :]
    gizmo.begin()
    try:
        _build(body, load=False)
    finally:
        gizmo.end()
    return gizmo


def _build(statements: list[list[str]], load: bool) -> None:
    """Create the nodes of a script or group body, wiring inputs from the .nk stack (top = input 0)."""
    stack: list[Node | None] = []
    variables: dict[str, Node | None] = {}
    for words in statements:
        key = words[0]
        if key in ("version", "end_group"):
            continue
        if key == "set":
            variables[words[1]] = stack[-1] if stack else None
            continue
        if key == "push":
            stack.append(None if words[1] == "0" else variables[words[1].lstrip("$")])
            continue
        if key == "Root":
            _apply_block(_state.root, words[1])
            continue
        body = words[1]
        name = next((s[1] for s in _statements(body) if s[0] == "name"), None)
        node = _new_node(key, name)
        inputs = _apply_block(node, body)
        if key == "Read":
            _fake_load_media(node)
        if inputs is None:
            inputs = node.maxInputs()
        taken = [stack.pop() if stack else None for _ in range(inputs)]
        for index, upstream in enumerate(taken):
            node._inputs[index] = upstream
        stack.append(node)
        if load:
            _created(node)


def _quote(text: str) -> str:
    if text and re.fullmatch(r"[\w./:+\-%#@]+", text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("[", "\\[").replace("\n", "\\n")
    return f'"{escaped}"'


def scriptClear() -> None:
    _state.root._children.clear()
    _state.counters.clear()
    for knob in _state.root._knobs.values():
        knob._value = _state.root.fake_defaults[knob.name()]


def scriptOpen(path: str) -> None:
    """Load a script: nodes are created with their saved knob values, then onCreate runs for each."""
    scriptClear()
    _state.root.fake_defaults = {k: v._value for k, v in _state.root._knobs.items()}
    _state.groups = []
    _build(_statements(Path(path).read_text()), load=True)


def scriptSave(path: str) -> bool:
    """Write the top-level nodes: knobs that differ from their defaults (a gizmo's internals are not saved)."""
    lines = ["#! fake nuke -nx", "version 15.0 v1"]

    def block(node: Node, inputs: int | None, named: bool = True) -> None:
        lines.append(f"{node.Class()} {{")
        if inputs is not None:
            lines.append(f" inputs {inputs}")
        for key, knob in node._knobs.items():
            if key != "name" and knob._value != node.fake_defaults.get(key) and not isinstance(knob, PyScript_Knob):
                lines.append(f" {key} {_quote(knob.fake_format())}")
        if named:
            lines.append(f" name {node.name()}")
        lines.append("}")

    block(_state.root, 0, named=False)
    previous: Node | None = None
    for node in _state.root.nodes():
        upstream = node._inputs[0] if node._inputs else None
        if upstream is not None and upstream is not previous:
            lines.append(f"push $N{upstream.name()}")
        block(node, 0 if upstream is None and node.maxInputs() else None)
        lines.append(f"set N{node.name()} [stack 0]")
        previous = node
    Path(path).write_text("\n".join(lines) + "\n")
    return True


# ----------------------------------------------------------------------- Read semantics (oracle)


def fake_read_shows(read: Node, frame: int) -> tuple[str, int] | None:
    """(file, file frame) a Read shows at comp frame `frame`, or None outside its range.

    Nuke's frame modes: "offset" shows file frame f at f + frame; "start at" shows `first` at
    `frame`; "expression" reads the expression's file frame (here: "", "frame", "frame+N", "frame-N").
    """
    mode, value = read["frame_mode"]._value, read["frame"]._value.strip()
    first, last = read["first"]._value, read["last"]._value
    if mode == "offset":
        file_frame = frame - fake_conventions["offset_sign"] * int(value or 0)
    elif mode == "start at":
        file_frame = frame - int(value or first) + first
    else:
        file_frame = int(eval(value or "frame", {"frame": frame}))  # test inputs only
    if not first <= file_frame <= last:
        return None
    path = read["file"]._value
    match = re.search(r"%0?(\d*)d|#+", os.path.basename(path))
    if match:
        width = int(match.group(1) or 1) if match.group(0).startswith("%") else len(match.group(0))
        head, tail = os.path.split(path)
        path = os.path.join(head, tail[: match.start()] + f"{file_frame:0{width}d}" + tail[match.end() :])
    return path, file_frame


_FIELD = re.compile(r"%0?(\d*)d|#+")


def _fake_load_media(read: Node) -> None:
    """What Nuke does when a Read's file is set: learn the file's frames (origfirst/origlast) or show an error.

    Sequences: the numbers of the files on disk. Movies: decoded frames, numbered from
    fake_conventions["movie_first_frame"].
    """
    path = read["file"]._value
    frames = _sequence_numbers(path) if _FIELD.search(os.path.basename(path)) else _movie_frames(path)
    read.fake_error = frames is None
    if frames is not None:
        read["origfirst"]._value, read["origlast"]._value = frames


def _sequence_numbers(pattern: str) -> tuple[int, int] | None:
    head, tail = os.path.split(pattern)
    match = _FIELD.search(tail)
    regex = re.compile(re.escape(tail[: match.start()]) + r"(\d+)" + re.escape(tail[match.end() :]) + "$")
    try:
        numbers = [int(m.group(1)) for name in os.listdir(head or ".") if (m := regex.match(name))]
    except OSError:
        return None
    return (min(numbers), max(numbers)) if numbers else None


def _movie_frames(path: str) -> tuple[int, int] | None:
    import av  # the fake reads real media, as Nuke would

    try:
        with av.open(path) as container:
            count = sum(1 for _ in container.decode(video=0))
    except (OSError, av.FFmpegError, IndexError):
        return None
    if not count:
        return None
    first = _movie_first_frame(path)
    return first, first + count - 1


def _movie_first_frame(path: str) -> int:
    convention = fake_conventions["movie_first_frame"]
    if convention != "timecode":
        return convention
    import av
    import opentimelineio as otio

    with av.open(path) as container:
        stream = container.streams.video[0]
        tags = {**container.metadata, **stream.metadata}
        timecode = tags.get("timecode", "00:00:00:00")
        return round(otio.opentime.from_timecode(timecode, float(stream.average_rate)).value)


def fake_read_media_frame(read: Node, frame: int) -> tuple[str, int] | None:
    """(file, media frame) a Read shows at comp frame `frame`: a sequence's file number, a movie's index from 0."""
    shown = fake_read_shows(read, frame)
    if shown is None or _FIELD.search(os.path.basename(read["file"]._value)):
        return shown
    return shown[0], shown[1] - _movie_first_frame(shown[0])
