"""``python -m cli``: how ``up`` starts its children with this interpreter."""

from cli import main

main()
