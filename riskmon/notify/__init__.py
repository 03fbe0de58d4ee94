"""Where alert events go: the console, Telegram; formatting is pure and lives in ``format``."""
