"""chanwatch: watch Telegram channels for topics in every inflected form."""

__version__ = "0.1.0"
