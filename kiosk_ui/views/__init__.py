"""Widgets: they only wire models to what is drawn. No state or wording lives here."""
