"""syndicate: cross-post feed articles to Mastodon and Bluesky exactly once."""

__version__ = "0.1.0"
