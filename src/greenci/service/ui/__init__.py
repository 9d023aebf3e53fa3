"""The operators' dashboard: server-rendered pages of the service behind the same tokens as its API.

Why in the service: the people who run a CI fleet want to look (what waits, what was saved, how the grid
looks, whether the sources are healthy) without a second deployment; the pages read the app's own store,
forecast and metrics, and nothing is loaded from the internet when they are viewed.
"""

from greenci.service.ui.router import ui_router

__all__ = ["ui_router"]
