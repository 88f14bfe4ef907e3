"""The errors a user can act on. Every one carries a message that names the file or
option involved and what to do; the CLI prints it as one line (exit status 2) and the
service answers it as a 4xx. Anything else that escapes the library is a bug.

This module imports nothing from the package, so every layer can raise these errors.
"""

from __future__ import annotations


class FRDError(Exception):
    """Base class: a problem with the input, the options or the environment, not a bug."""


class InputError(FRDError, ValueError):
    """An image set or mask set cannot be used; the message names the files involved."""


class ArchiveError(FRDError, ValueError):
    """A zip archive is unsafe or unreadable."""


class ExtractionError(FRDError, RuntimeError):
    """Extraction cannot give a usable result (strict mode, mixed dimensions, too few
    images, too many skipped, a worker that failed)."""


class StatsMismatch(FRDError, ValueError):
    """Reference statistics cannot serve the requested comparison."""


class CacheError(FRDError, ValueError):
    """The cache folder cannot be used; the message says which and what to do."""


class EngineUnavailable(FRDError, RuntimeError):
    """The chosen extraction engine cannot run in this installation."""


class OptionError(FRDError, ValueError):
    """An option has a value it cannot take.

    ``option`` is the :class:`~frd.options.FRDOptions` field (or run argument) at fault;
    ``problem`` is the rest of the sentence. The message is rendered with the option's
    name as each surface spells it: ``bin_width`` in Python, ``--bin-width`` on the
    command line, ``options.bin_width`` in the service (see :meth:`render`).
    ``problem`` may refer to other options as ``{name_of_field}`` placeholders.
    """

    def __init__(self, option: str, problem: str):
        self.option, self.problem = option, problem
        super().__init__(self.render(lambda name: name))

    def render(self, spell) -> str:
        """The message with every option name spelled by ``spell(field_name)``."""
        names = _Spelled(spell)
        return f"{spell(self.option)} {self.problem.format_map(names)}"


class _Spelled(dict):
    def __init__(self, spell):
        super().__init__()
        self._spell = spell

    def __missing__(self, key: str) -> str:
        return self._spell(key)
