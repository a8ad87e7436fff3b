"""Messages reach the team by e-mail: MP3 encoding, the mail's text, the persistent outbox and its SMTP sender."""
