"""The browser channel: fill and submit hosted application forms in Debian's Chromium.

`runtime` starts a guarded browser (availability, limits, process watch), `guard` lets pages
reach public addresses only, `ats` tells the hosted forms apart, `fields` reads a form's
questions and answers them, `session` fills a form page by page and submits it once.
"""
