"""Every ```python block of README.md runs (in order, in one namespace) without error.

The blocks carry their own assertions (the note-003 values, the block chain rule against
finite differences), so a wrong result fails here too.
"""

import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def python_blocks():
    with open(README, encoding="utf-8") as fh:
        return re.findall(r"```python\n(.*?)```", fh.read(), flags=re.S)


def test_readme_has_the_note_003_example():
    assert any("4 * np.cos(4)" in block for block in python_blocks())


def test_readme_python_blocks_run():
    namespace = {}
    blocks = python_blocks()
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, README, "exec"), namespace)
