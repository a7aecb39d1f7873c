"""Tasks are thin: they open the app context (see FlaskTask), call a service, commit."""
