"""The REST resources of API.md, one blueprint per resource, all under /v1/chats."""

from chat.api import (bans, health, invitations, memberships, messages, rooms, search,
                      sessions, stream, users)

PREFIX = "/v1/chats"
BLUEPRINTS = (users.bp, sessions.bp, rooms.bp, memberships.bp, invitations.bp, bans.bp,
              messages.bp, search.bp, stream.bp, health.bp)


def init_app(app, before_request):
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint, url_prefix=PREFIX)
        # Registered on the app, not on the module-level blueprint, so that every app
        # (tests and benchmarks create several) gets it exactly once.
        app.before_request_funcs.setdefault(blueprint.name, []).append(before_request)
