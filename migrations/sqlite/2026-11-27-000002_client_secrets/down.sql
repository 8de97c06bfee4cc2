DROP TABLE registry_versions;
DROP TABLE client_secrets;
