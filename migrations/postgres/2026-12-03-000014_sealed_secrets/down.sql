DROP TABLE sealed_secrets;
