"""`GET /docs`: the OpenAPI document (/v1/chats/openapi.json) rendered by Swagger UI.

Swagger UI's files come from the `flask-swagger-ui` package (its `dist/`, Swagger UI 5,
which reads OpenAPI 3.1); nothing is loaded from another site, and the page's own start-up
code is a file here (no inline script), so the same strict CSP as the chat page applies.
"""

import os

import flask_swagger_ui
from flask import Blueprint, abort, render_template, send_from_directory

SWAGGER_UI_DIST = os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist")
# Only what the page uses: the rest of dist/ (OAuth redirect pages) is not served.
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png",
                    "favicon-16x16.png"})

bp = Blueprint("apidocs", __name__, static_folder="static", static_url_path="/docs/static",
               template_folder="templates")

# Swagger UI sets style attributes and inline SVG images; scripts only from here.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}


@bp.get("/docs")
def docs():
    return render_template("apidocs.html"), PAGE_HEADERS


@bp.get("/docs/swagger-ui/<name>")
def swagger_ui_asset(name):
    if name not in ASSETS:
        abort(404)
    return send_from_directory(SWAGGER_UI_DIST, name, max_age=86400)
