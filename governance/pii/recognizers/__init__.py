"""The recognizers, one class per module, and the registry that finds them by name.

Every module ``*_recognizer.py`` of this package holds one :class:`Recognizer` subclass;
:func:`recognizer_classes` imports them all and returns them by class name, which is how
``governance/pii/recognizers.yaml`` names them.
"""

from __future__ import annotations

import importlib
import pkgutil

from governance.pii.recognizers.base import Recognizer

__all__ = ["Recognizer", "recognizer_classes"]


def recognizer_classes() -> dict[str, type[Recognizer]]:
    """Every recognizer class of this package, by class name."""
    found: dict[str, type[Recognizer]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.endswith("_recognizer"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        mine = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, Recognizer)
            and obj is not Recognizer
            and obj.__module__ == module.__name__
        ]
        if len(mine) != 1:
            raise RuntimeError(f"{module.__name__} must define exactly one recognizer class")
        found[mine[0].__name__] = mine[0]
    return found
