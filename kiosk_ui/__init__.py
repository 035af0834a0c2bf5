"""PyQt6 screens: room boards and station screens."""
