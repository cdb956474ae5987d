import gc

from routes import create_app

app = create_app()
# Under ``gunicorn --preload`` this runs in the master before it forks the workers: objects made so far
# are left out of the cyclic collector's passes, which would otherwise write to (and so copy) every page
# holding them in each worker. Without preload it costs nothing.
gc.freeze()
