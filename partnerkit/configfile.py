"""Reading the YAML configuration files: leak rules, targets, dashboard spec, column mappings.

Each of those modules validates its own keys and raises its own error; what they
share is turning YAML text into data with an error that says where the text breaks.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["YamlSyntaxError", "parse_yaml"]


class YamlSyntaxError(ValueError):
    """Text that is not valid YAML; the message names the line and column when known."""


def parse_yaml(text: str) -> Any:
    """Parse YAML text safely (no Python objects), as :func:`yaml.safe_load` does.

    Raises
    ------
    YamlSyntaxError
        ``not valid YAML (line L, column C): <problem>``.

    Examples
    --------
    >>> parse_yaml("rules: [{pattern: a}]")
    {'rules': [{'pattern': 'a'}]}
    >>> parse_yaml("rules: [unclosed")
    Traceback (most recent call last):
    ...
    partnerkit.configfile.YamlSyntaxError: not valid YAML (line 1, column 17): expected ',' or ']', but got '<stream end>'
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlSyntaxError(f"not valid YAML{where}: {problem}") from None
