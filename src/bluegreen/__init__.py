"""bluegreen: blue-green deployments of web servers on AWS."""

__version__ = "0.1.0"
