CREATE TABLE `access_keys` (
	`access_key_id` text PRIMARY KEY NOT NULL,
	`secret_access_key` text NOT NULL,
	`created_ms` integer NOT NULL
);
