"""The configuration reference in README.md is the one the config model generates."""

from __future__ import annotations

from devstack.docs import BEGIN, END, reference_markdown, replace_block
from devstack.settings import repo_root
from streamsuite_common.config import SHARED_SECTIONS, env_name, specs


def test_readme_reference_matches_the_config_model():
    readme = (repo_root() / "README.md").read_text()
    assert replace_block(readme, reference_markdown()) == readme, (
        "README.md's configuration reference is stale: run `make docs`"
    )


def test_reference_lists_every_setting_with_its_environment_variable():
    table = reference_markdown()
    for section in SHARED_SECTIONS:
        for _, spec in specs(section):
            assert f"`{env_name(section.SECTION, spec.key)}`" in table


def test_replace_block_keeps_the_text_around_the_markers():
    text = f"before\n{BEGIN}\nold\n{END}\nafter\n"
    assert replace_block(text, "new") == f"before\n{BEGIN}\nnew\n{END}\nafter\n"
