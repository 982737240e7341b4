"""HTTP serving: FastAPI app factory, one router per resource, settings (the only env reader)."""

from shortlist.serving.settings import Settings, load_settings

__all__ = ["Settings", "create_app", "load_settings"]


def __getattr__(name: str):  # FastAPI is an optional dependency: import it when the app is asked for
    if name == "create_app":
        from shortlist.serving.app import create_app

        return create_app
    raise AttributeError(name)
