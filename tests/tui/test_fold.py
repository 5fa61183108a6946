"""The flow is not pasted into the chat: its block is folded into a pointer as the reply streams."""

import random

from copilot.tui.fold import POINTER, FlowFold, fold_flows

REPLY = "Here is the flow:\n\n```yaml\nid: a\nnamespace: b\n```\nIt logs [S1].\n```python\nprint(1)\n```\nend"


def test_the_flow_block_becomes_a_pointer_and_other_code_stays() -> None:
    shown = fold_flows(REPLY)
    assert POINTER in shown and "namespace: b" not in shown
    assert "```python\nprint(1)\n```" in shown and shown.endswith("It logs [S1].\n```python\nprint(1)\n```\nend")


def test_any_split_of_the_stream_shows_the_same() -> None:
    for seed in range(100):
        chooser = random.Random(seed)
        fold, shown, at = FlowFold(), "", 0
        while at < len(REPLY):
            size = chooser.randint(1, 7)
            shown += fold.feed(REPLY[at : at + size])
            at += size
        assert shown + fold.end() == fold_flows(REPLY)


def test_prose_streams_live_and_a_line_that_may_open_a_fence_waits() -> None:
    fold = FlowFold()
    assert fold.feed("It logs") == "It logs"  # shown at once
    assert fold.feed(" hi\n``") == " hi\n"  # "``" may become a fence: held
    assert fold.feed("`yaml\nid: a\n") == f"{POINTER}\n\n"
    assert fold.end() == ""  # an unclosed flow block stays folded
