"""The schema's Alembic revisions (how to add one: README.md here).

``HEAD`` is the newest revision: a process whose database already has it starts with one query and
without loading Alembic (store/migrate.py). A new revision sets it; a test fails when they disagree.
"""

HEAD = "0009"
