"""The one error the query layer raises for bad input: it names the parameter at fault."""

from __future__ import annotations


class InvalidQuery(ValueError):
    """A request parameter (or body field) is wrong; ``str()`` is ``"<param>: <problem>"``."""

    def __init__(self, param: str, problem: str):
        super().__init__(f"{param}: {problem}")
        self.param = param
        self.problem = problem
