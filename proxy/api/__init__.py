"""HTTP layer: thin handlers, routes and middlewares."""
