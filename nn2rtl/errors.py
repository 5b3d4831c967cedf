"""Exceptions for user mistakes.

Every error a user can cause by their model, configuration or command line derives from :class:`Nn2rtlError`.
The CLI prints such errors in one line and exits with status 2; anything else is a bug in nn2rtl and is
allowed to produce a traceback.
"""

__all__ = ["Nn2rtlError", "ModelError", "UnsupportedOpError", "ConfigError", "PrecisionError",
           "SimulationError", "ToolError"]


class Nn2rtlError(Exception):
    """Base class of every error caused by user input."""


class ModelError(Nn2rtlError):
    """The model file cannot be read, or its graph is malformed."""


class UnsupportedOpError(ModelError):
    """The model uses operators (or operator attributes) nn2rtl cannot translate.

    ``nodes`` lists ``(node_name, op_type, reason)`` for every offending node, so that a user sees all problems
    at once rather than one per run.
    """

    def __init__(self, nodes):
        self.nodes = list(nodes)
        parts = [f"'{name}' ({op}{': ' + why if why else ''})" for name, op, why in self.nodes]
        noun = "node" if len(self.nodes) == 1 else "nodes"
        super().__init__(f"{len(self.nodes)} unsupported {noun}: " + ", ".join(parts))


class ConfigError(Nn2rtlError):
    """The configuration (dict, YAML file or command-line option) is invalid."""


class PrecisionError(ConfigError):
    """A precision string such as ``fixed<16,6>`` cannot be parsed or is out of range."""


class SimulationError(Nn2rtlError):
    """A simulation could not be run (missing simulator, build failure) or its results disagree."""


class ToolError(Nn2rtlError):
    """An external tool (Verilator, Yosys, ...) is missing or failed."""
