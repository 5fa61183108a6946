"""The flow is not pasted into the chat: its block is folded into a pointer as the reply streams."""

import random

from copilot.tui.fold import POINTER, FlowFold, fold_flows

REPLY = (
    "Here is the flow:\n\n```yaml\nid: a\nnamespace: b\n```\nIt logs [S1].\n```python\nprint(1)\n```\n"
    "A retry looks like:\n```yaml\nretry:\n  type: constant\n```\nAnd plain:\n```\nid: c\nnamespace: d\n```\nend"
)


def test_the_flow_block_becomes_a_pointer_and_other_code_stays() -> None:
    shown = fold_flows(REPLY)
    assert shown.count(POINTER) == 2 and "namespace: b" not in shown and "namespace: d" not in shown  # untagged too
    assert "It logs [S1].\n```python\nprint(1)\n```\n" in shown
    assert "A retry looks like:\n```yaml\nretry:\n  type: constant\n```\n" in shown  # a snippet, not a flow


def test_a_snippet_is_held_until_its_block_closes_and_a_flow_is_folded_at_its_id() -> None:
    fold = FlowFold()
    assert fold.feed("Retry:\n```yaml\nretry:\n") == "Retry:\n"  # may still be a flow
    assert fold.feed("  type: constant\n```\n") == "```yaml\nretry:\n  type: constant\n```\n"
    assert fold.feed("```\ntasks:\n") == ""
    assert fold.feed("id: x\n") == f"{POINTER}\n\n"  # a top-level id: a flow
    assert fold.feed("namespace: y\n```\ndone") == "done"


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
