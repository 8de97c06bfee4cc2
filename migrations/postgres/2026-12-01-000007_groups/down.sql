ALTER TABLE resource_servers DROP COLUMN include_groups;
DROP TABLE group_members;
DROP TABLE groups;
