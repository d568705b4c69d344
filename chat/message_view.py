"""How stored messages are shown: API.md's nine Message fields, with mentions and
reactions loaded in bulk (two queries per page, whatever its length)."""

from collections import defaultdict

from sqlalchemy import select

from chat.models import Mention, Reaction


def serialize(session, messages):
    """`messages` (Message rows) as API dicts, in the same order."""
    ids = [m.id for m in messages]
    if not ids:
        return []
    mentions, reactions = mentions_of(session, ids), reactions_of(session, ids)
    return [m.to_dict(mentions.get(m.id, ()), reactions.get(m.id, ())) for m in messages]


def mentions_of(session, message_ids):
    """message id -> [user id], in the order the text names them."""
    out = defaultdict(list)
    for message_id, user_id in session.execute(
            select(Mention.message_id, Mention.user_id)
            .where(Mention.message_id.in_(message_ids)).order_by(Mention.position)):
        out[message_id].append(str(user_id))
    return out


def reactions_of(session, message_ids):
    """message id -> [{emoji, count, users}], each emoji in the order of its first use."""
    by_message = defaultdict(dict)
    for message_id, emoji, user_id in session.execute(
            select(Reaction.message_id, Reaction.emoji, Reaction.user_id)
            .where(Reaction.message_id.in_(message_ids)).order_by(Reaction.seq)):
        by_message[message_id].setdefault(emoji, []).append(str(user_id))
    return {message_id: [{"emoji": emoji, "count": len(users), "users": users}
                         for emoji, users in emojis.items()]
            for message_id, emojis in by_message.items()}
