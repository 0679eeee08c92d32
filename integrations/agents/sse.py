"""A Server-Sent Events parser (the WHATWG event-stream rules), fed line by line. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    id: str | None
    event: str
    data: str


@dataclass
class Parser:
    """``feed(line)`` returns a Message when a blank line ends one; comments and retry are kept aside."""

    last_event_id: str | None = None
    retry_ms: int | None = None
    comments: int = 0
    _data: list[str] = field(default_factory=list)
    _event: str = ""
    _has_data: bool = False

    def feed(self, line: str) -> Message | None:
        line = line.rstrip("\r\n")
        if line == "":
            if not self._has_data:
                self._event = ""
                return None
            message = Message(id=self.last_event_id, event=self._event or "message", data="\n".join(self._data))
            self._data, self._event, self._has_data = [], "", False
            return message
        if line.startswith(":"):
            self.comments += 1
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "event":
            self._event = value
        elif name == "id" and "\x00" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None
