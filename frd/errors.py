"""The errors a user can act on. Every one carries a message that names the file or
option involved and what to do; the CLI prints it as one line (exit status 2) and the
service answers it as a 4xx. Anything else that escapes the library is a bug.

This module imports nothing from the package, so every layer can raise these errors.
"""

from __future__ import annotations

import re


class FRDError(Exception):
    """Base class: a problem with the input, the options or the environment, not a bug.

    A message may name options as ``{option:field_name}``; :meth:`render` spells them as
    each surface does (``bin_width`` in Python, ``--bin-width`` on the command line,
    ``options.bin_width`` in the service), and ``str()`` gives the Python spelling.
    """

    def render(self, spell) -> str:
        """The message with every option name spelled by ``spell(field_name)``."""
        return _spell_options(super().__str__(), spell)

    def __str__(self) -> str:
        return self.render(lambda name: name)


def _spell_options(text: str, spell) -> str:
    return re.sub(r"\{option:([a-z][a-z0-9_]*)\}", lambda m: spell(m.group(1)), text)


class InputError(FRDError, ValueError):
    """An image set or mask set cannot be used; the message names the files involved."""


class ArchiveError(FRDError, ValueError):
    """A zip archive is unsafe or unreadable."""


class ExtractionError(FRDError, RuntimeError):
    """Extraction cannot give a usable result (strict mode, mixed dimensions, too few
    images, too many skipped, a worker that failed)."""


class MaskMismatch(FRDError, ValueError):
    """A given mask does not fit its image; always an error naming both."""


class StatsMismatch(FRDError, ValueError):
    """Reference statistics cannot serve the requested comparison."""


class CacheError(FRDError, ValueError):
    """The cache folder cannot be used; the message says which and what to do."""


class EngineUnavailable(FRDError, RuntimeError):
    """The chosen extraction engine cannot run in this installation."""


class ServerError(FRDError, RuntimeError):
    """A remote ``frd serve`` refused a request or could not be reached; the message says why."""


class MissingExtra(FRDError, ImportError):
    """A feature needs an optional dependency (a package extra) that is not installed."""


class OptionError(FRDError, ValueError):
    """An option has a value it cannot take.

    ``option`` is the :class:`~frd.options.FRDOptions` field (or run argument) at fault;
    ``problem`` is the rest of the sentence, which may name other options as
    ``{option:field_name}`` (see :meth:`FRDError.render`).
    """

    def __init__(self, option: str, problem: str):
        self.option, self.problem = option, problem
        super().__init__(f"{{option:{option}}} {problem}")
