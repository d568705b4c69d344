"""The browser chat page: one HTML page plus static ES modules, no build step."""

from flask import Blueprint, render_template

bp = Blueprint(
    "web",
    __name__,
    static_folder="static",
    static_url_path="/static",
    template_folder="templates",
)

# The page loads only its own files: even if some text slipped past textContent, no
# injected script, frame or remote resource could run or load.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}


@bp.get("/")
def index():
    return render_template("index.html"), PAGE_HEADERS
