DROP TABLE hot_changes;
DROP TABLE hot_entries;
