"""The staff dashboard and the patient phone page, served by central's aiohttp app.

Server-rendered shells (no build step) with small vanilla scripts from /static; every
dynamic value reaches the DOM through `textContent`, never as HTML.
"""
