-- Ferry's own database beside Temporal's (the worker applies Ferry's migrations to it at start).
CREATE ROLE ferry WITH LOGIN PASSWORD 'ferry';
CREATE DATABASE ferry OWNER ferry;
