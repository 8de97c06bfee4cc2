ALTER TABLE resource_servers DROP COLUMN introspection_clients;
