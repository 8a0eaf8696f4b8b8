"""The file a chat message carries, as the bot describes it: its name is the one the file
gets everywhere (telegram.metadata.file_name_of), after its bin-channel copy."""

from __future__ import annotations

from dataclasses import dataclass

from pyrogram.types import Message

from ..telegram.metadata import file_name_of

# The kinds of media the bot takes, in Kurigram's attribute names.
MEDIA_KINDS = ("document", "video", "audio", "voice", "animation", "photo")


@dataclass(frozen=True)
class MediaFacts:
    given_name: str | None
    mime_type: str | None
    size: int
    photo: bool

    def name_in_bin(self, bin_message_id: int) -> str:
        """The file's name as its bin-channel message is named everywhere: by the id of
        the copy, never of the user's own message."""
        return file_name_of(bin_message_id, self.given_name, self.mime_type, photo=self.photo)


def media_facts(message: Message) -> MediaFacts | None:
    """What the bot says of the message's file, or None when it carries none."""
    for kind in MEDIA_KINDS:
        media = getattr(message, kind, None)
        if media is None:
            continue
        name = getattr(media, "file_name", None)
        mime = getattr(media, "mime_type", None)
        return MediaFacts(
            name if isinstance(name, str) else None,
            mime if isinstance(mime, str) else None,
            int(media.file_size or 0),
            photo=kind == "photo",
        )
    return None
