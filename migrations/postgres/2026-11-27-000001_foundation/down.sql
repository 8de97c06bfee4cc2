DROP TABLE audit_events;
DROP TABLE users;
DROP TABLE clients;
DROP TABLE resource_servers;
DROP TABLE signing_keys;
