"""The REST resources of API.md, one blueprint per resource, all under /v1/chats."""

from chat.api import (bans, health, invitations, memberships, messages, rooms, sessions,
                      stream, users)

PREFIX = "/v1/chats"
BLUEPRINTS = (users.bp, sessions.bp, rooms.bp, memberships.bp, invitations.bp, bans.bp,
              messages.bp, stream.bp, health.bp)


def init_app(app, before_request):
    for blueprint in BLUEPRINTS:
        blueprint.before_request(before_request)
        app.register_blueprint(blueprint, url_prefix=PREFIX)
