"""The inspector: server-rendered pages at ``/ui`` that show why each user gets what they get."""

from shortlist.serving.ui.routes import router

__all__ = ["router"]
