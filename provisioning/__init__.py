"""The technician's setup script for a new station."""
