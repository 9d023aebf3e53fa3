"""``python -m greenci`` runs the command line."""

from greenci.cli import main

main()
