# Not put in the table: found on disk through app.__path__.
WHERE = "disk"
