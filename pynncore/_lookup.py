"""Resolving Keras-style identifiers (a name, a config dict, a class, an instance or a
callable) against a module's registry; shared by regularizers and constraints."""

from __future__ import annotations

import inspect
from typing import Any, Callable


def deserialize(config: Any, custom_objects: Any, class_names: dict, what: str) -> Any:
    """Build an object from ``{"class_name": ..., "config": {...}}``: registered classes (or
    ``custom_objects``) only, never anything else named in the dict."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"{what}s.deserialize: expected a dict with a 'class_name' key. Received: {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or class_names.get(name)
    if cls is None:
        raise ValueError(f"Unknown {what} class: {name!r}. Valid names are: {', '.join(sorted(class_names))}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier: Any, registry: dict, base: type, deserialize_fn: Callable[[dict], Any], what: str) -> Any:
    """``None``, or the object an identifier names (see the calling module's ``get``)."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        try:
            return registry[identifier]()
        except KeyError:
            raise ValueError(f"Unknown {what}: {identifier!r}. Valid names are: {', '.join(sorted(registry))}") from None
    if isinstance(identifier, dict):
        return deserialize_fn(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, base):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret {what} identifier: {identifier!r}")
