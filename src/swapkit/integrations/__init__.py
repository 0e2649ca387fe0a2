"""Web-framework adapters for swapkit's one webhook endpoint (`swapkit.core.webhooks`).

Each is a small module importing its framework, so none is needed unless used:

* `swapkit.integrations.starlette`: a route endpoint for Starlette and FastAPI;
* `swapkit.integrations.flask`: a Flask blueprint;
* `swapkit.integrations.django`: a Django view.

All read the raw body (never a parsed, re-serialised one), pass the full URL the delivery
arrived at, and answer 2xx for an accepted or a duplicate delivery, 400 for a refused one and
5xx when something else failed, the application's `on_event` callback included (so the vendor
retries; a retry of a delivery already handled is answered without effect).
"""
