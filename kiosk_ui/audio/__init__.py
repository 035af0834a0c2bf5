"""Call announcements: a chime (generated WAV) and Korean speech where a voice exists."""
