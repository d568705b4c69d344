"""The browser chat page: one HTML page plus static ES modules, no build step."""

from flask import Blueprint, render_template

bp = Blueprint(
    "web",
    __name__,
    static_folder="static",
    static_url_path="/static",
    template_folder="templates",
)


@bp.get("/")
def index():
    return render_template("index.html")
