from routes import create_app

app = create_app()
