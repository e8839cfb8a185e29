"""Regenerate the README's generated blocks: `python tests/readme_blocks.py` (tests/test_docs.py checks they are
current). A development tool: it does not ship in the package."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.settings import settings_table


def refresh(readme: Path) -> bool:
    text = readme.read_text(encoding="utf-8")
    new = re.sub(
        r"(<!-- settings:start -->\n).*?(<!-- settings:end -->)",
        lambda m: m.group(1) + settings_table() + m.group(2),
        text,
        flags=re.S,
    )
    readme.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    changed = refresh(Path(__file__).resolve().parents[1] / "README.md")
    print("README.md updated" if changed else "README.md already current")
