from integrations.agents.sse import Message, Parser


def feed(parser: Parser, text: str) -> list[Message]:
    out = []
    for line in text.splitlines(keepends=True):
        m = parser.feed(line)
        if m is not None:
            out.append(m)
    return out


def test_parses_ids_events_multiline_data_and_comments() -> None:
    p = Parser()
    got = feed(p, 'retry: 1000\n: hello\n\nid: 7\nevent: a.b\ndata: {"x":\ndata: 1}\n\n: heartbeat\n\n')
    assert got == [Message(id="7", event="a.b", data='{"x":\n1}')]
    assert p.retry_ms == 1000 and p.comments == 2 and p.last_event_id == "7"


def test_the_last_id_carries_over_and_default_event_is_message() -> None:
    p = Parser(last_event_id="3")
    assert feed(p, "data: x\r\n\r\n") == [Message(id="3", event="message", data="x")]
    assert feed(p, "event: only-a-name\n\n") == []
